"""The domain core shared by every Somo package: settings, models, database, queue, clock."""
