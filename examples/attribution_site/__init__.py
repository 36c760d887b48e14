"""A small FastAPI site crediting referrals: landing page, signup form, jQuery stats."""
