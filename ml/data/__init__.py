"""FER2013 import: any Kaggle download (CSV, folder, zip) into one `FerStore` .npz file.

No Django here; the web app and `python -m ml import` both call `import_fer2013`.
"""
from ml.data.errors import DataImportError
from ml.data.importers import import_fer2013
from ml.data.store import FerStore
from ml.data.summary import format_counts

__all__ = ["DataImportError", "FerStore", "format_counts", "import_fer2013"]
