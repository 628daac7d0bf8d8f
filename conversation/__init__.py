"""The per-student conversation: state machine, commands, onboarding, ordering, locale."""
