"""marshmallow pieces shared by several API families (apart from the database models).

Each family keeps its own request and response schemas in its package (``dalston.native``,
``dalston.elevenlabs``, ``dalston.openai``); what they share is here: :mod:`.fields`.
"""
