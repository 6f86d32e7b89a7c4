"""Operator accounts: who may use the admin API and the dashboard, and what each may do."""
