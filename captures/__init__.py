"""Real reference captures with their truth files; `captures.lab` is the lab that makes them."""
