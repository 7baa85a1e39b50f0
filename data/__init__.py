"""ft-audit's bundled compatibility dataset (census.json, packages.txt); installed as `ftaudit_data`."""
