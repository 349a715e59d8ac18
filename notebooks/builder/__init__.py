"""The sections of the project's notebooks, as code (see ``notebooks/build_notebooks.py``)."""
