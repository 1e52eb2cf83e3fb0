"""The person front end: every person in a real photo, from MediaPipe's BlazePose networks run in torch.

``FrontEnd(device).detect(images) -> list[list[Person]]``; see ``people/frontend.py``.
"""

from bodynet_cli.people.frontend import FrontEnd, Person
from bodynet_cli.people.roi import Roi

__all__ = ["FrontEnd", "Person", "Roi"]
