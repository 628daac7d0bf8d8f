"""The web admin: pages, auth, enrolment, broadcasts, progress, simulator."""
