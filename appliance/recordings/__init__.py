"""Call recordings: each call's audio teed into a stereo WAV under data_dir/recordings, and kept only so long."""
