from django.contrib import admin

from poker_event.models import Game, GameSession

admin.site.register(Game)
admin.site.register(GameSession)
