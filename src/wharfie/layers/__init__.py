"""Layer tar streams: compression codecs, writing a layer from a diff, applying one safely."""
