"""gridtalk's domain and infrastructure. Never imports aiogram, fastapi or rasa."""
