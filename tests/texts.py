"""Two unrelated topics, so a query can tell which version of a document a chunk came from."""

BEES = (
    "Honey bees communicate the direction and distance of flowers with a waggle dance. "
    "A colony keeps its brood nest near thirty-five degrees by clustering and fanning. "
    "Worker bees build hexagonal wax cells and store nectar that they ripen into honey. "
)
TRAINS = (
    "Steam locomotives boil water in a firetube boiler to drive pistons on the wheels. "
    "Railway signals protect each block of track so that two trains never share it. "
    "The gauge of a railway is the distance between the inner faces of its two rails. "
)
BEE_QUERY = "how do honey bees tell each other where the flowers are?"
