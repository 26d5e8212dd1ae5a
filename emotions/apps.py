from django.apps import AppConfig


class EmotionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "emotions"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_delete

        from emotions.photo_sets.corrections import correction_removed
        from emotions.photo_sets.models import Correction
        from emotions.uploads.models import Upload
        from emotions.uploads.services import adopt_session_uploads, remove_upload_files
        from emotions.videos.models import Video
        from emotions.videos.services import adopt_session_videos, remove_video_files

        user_logged_in.connect(adopt_session_uploads, dispatch_uid="emotions.adopt_session_uploads")
        post_delete.connect(remove_upload_files, sender=Upload, dispatch_uid="emotions.remove_upload_files")
        user_logged_in.connect(adopt_session_videos, dispatch_uid="emotions.adopt_session_videos")
        post_delete.connect(remove_video_files, sender=Video, dispatch_uid="emotions.remove_video_files")
        post_delete.connect(correction_removed, sender=Correction, dispatch_uid="emotions.correction_removed")
