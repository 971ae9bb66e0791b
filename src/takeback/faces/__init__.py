"""Face identity, consent first: enrolled people's face templates, sealed, and comparing faces.

Faces stand between cases and evidence (a person enrolled belongs to a case; deleting a case
deletes its enrolments). Only here are ``face`` signal values (``signals.PERSONAL``) read.
"""
