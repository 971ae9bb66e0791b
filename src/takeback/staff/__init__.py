"""Staff accounts: caseworkers, supervisors, investigators and admins, with a second factor each."""
