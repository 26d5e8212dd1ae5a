"""The admin, where Django looks for it (`<app>.admin`): each domain registers its own models."""
from emotions.accounts import admin as accounts_admin  # noqa: F401
from emotions.photo_sets import admin as photo_sets_admin  # noqa: F401
from emotions.training import admin as training_admin  # noqa: F401
