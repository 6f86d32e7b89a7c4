"""The operator API: users, enrollment codes, devices, notices and the server's view of a user."""
