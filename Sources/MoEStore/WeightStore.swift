import MoEFormats
