import CLibAV

/// The encoders this libav build offers, so `inboxd doctor` can tell before the first job whether a conversion
/// can run at all (HLS needs libx264 and an AAC encoder; thumbnails MJPEG).
public enum EncoderCatalog {
    /// libav encoder names a conversion opens: by name for video, any AAC encoder for audio, MJPEG for thumbnails.
    public static let required: [(label: String, names: [String])] = [
        ("H.264 (libx264)", ["libx264"]),
        ("AAC", ["aac", "libfdk_aac"]),
        ("MJPEG (thumbnails)", ["mjpeg"]),
    ]

    public static func has(_ name: String) -> Bool { avcodec_find_encoder_by_name(name) != nil }
}
