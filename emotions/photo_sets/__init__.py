"""The user's own faces as data: photo datasets imported from a folder or a staff's zip, the faces uploaders
correct on their results, and the photo datasets every run is scored on."""
