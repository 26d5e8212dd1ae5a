"""The live camera page: a browser's camera frames predicted as photos are, one request each, nothing stored."""
