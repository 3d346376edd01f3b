"""The pipeline's stage functions, one module per stage of `stepfunctions.graph.TRAINING_PIPELINE`; each
module's `handler` is the stage's entry point (`lambdas.stage.stage_handler`)."""
