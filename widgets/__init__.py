"""widgets: Panel and ipywidgets components and the staff web app.

Not built yet: this package only reserves its place in the layout.
"""
