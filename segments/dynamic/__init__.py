"""Dynamic segments: saved rule trees with materialised, kept-current membership (issue 5)."""
