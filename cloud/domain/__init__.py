"""Cloud code by domain: thin controllers, services holding the logic, schemas for admin JSON."""
