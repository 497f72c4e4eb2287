"""The search pipeline: analyse → retrieve → fuse → prefer → answer, calling the index store below it."""
