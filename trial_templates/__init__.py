"""Trial scripts and the small reporting API they share (:mod:`trial_templates.report`)."""
