"""roads explain: any program's memory drawn as the site draws a sample's (README: Your own program)."""
