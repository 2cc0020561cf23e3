"""Background work: today the sandbox's webhook delivery; jobs come with later issues."""
