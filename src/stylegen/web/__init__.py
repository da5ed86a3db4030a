"""The web explorer behind `stylegen serve`: a FastAPI app (app.py) over the explorer's state
(state.py: the served networks, projected latents, background projections) and one static page
(static/index.html, app.js, app.css) that fetches nothing from outside.

Needs the `web` extra (`pip install 'stylegen[web]'`: fastapi, uvicorn); importing
`stylegen.web.app` imports FastAPI, `stylegen.web.state` does not.
"""
