from django.db import models


class Game(models.Model):
    """A poker game, once or recurring."""

    RECURRENCES = [("once", "once"), ("daily", "daily"), ("weekly", "weekly")]

    name = models.CharField(max_length=100)
    recurrence = models.CharField(max_length=10, choices=RECURRENCES)
    weekday = models.IntegerField(null=True, blank=True, help_text="0 = Monday (weekly games)")

    def __str__(self) -> str:
        return self.name


class GameSession(models.Model):
    """One session of a game on a day."""

    game = models.ForeignKey(Game, on_delete=models.CASCADE, related_name="sessions")
    date = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint("game", "date", name="one_session_a_day")]
