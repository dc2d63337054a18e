from django.db import models


class Report(models.Model):
    """What the example task writes: one row per run."""

    created_at = models.DateTimeField(auto_now_add=True)
    reports_before = models.IntegerField()
