"""The Lambda entrypoint behind the ALB: the app is built, and the champion loaded, at import (once per
execution environment); Mangum's lifespan is off because it would run on every invocation."""

from mangum import Mangum

from lambdas.api.app import create_app
from lambdas.logs import structured

app = create_app()
handler = structured(Mangum(app, lifespan="off"))
