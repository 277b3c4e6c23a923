//! Renders an outcome: terminal summary, JSON, Markdown, HTML with an SVG timeline, JUnit XML.
