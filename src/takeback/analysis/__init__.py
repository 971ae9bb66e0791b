"""Analysis: provenance findings in tiers (``provenance``), nudity scoring (``nudity``) and the
plug-in interface for ML classifiers (``classifiers``), which rank review and never decide."""
