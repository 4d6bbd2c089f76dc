/// Everything that can go wrong while reading or transforming an image.
public enum ImagingError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read at all.
    case unreadable(path: String, reason: String)
    /// The path is not a regular file (a named pipe, a device, a folder): refused unread.
    case notAFile(path: String, what: String)
    /// The bytes are a known image format that Graft does not decode.
    case unsupportedFormat(path: String, format: String)
    /// The bytes are not an image format Graft recognises.
    case unknownFormat(path: String)
    /// The decoder refused the data (corrupt or truncated file).
    case corrupt(path: String, format: String, reason: String)
    /// The image is empty or too large to hold in memory.
    case badDimensions(path: String, width: Int, height: Int)
    /// A transform was asked for something impossible (a zero-sized output, a box outside the image).
    case invalidArgument(String)

    /// What is wrong, without the path and the advice about files: `graft serve`'s answer for an
    /// uploaded image.
    public var reason: String {
        switch self {
        case let .unreadable(_, reason): return "cannot read the file (\(reason))"
        case let .notAFile(_, what): return what
        case let .unsupportedFormat(_, format): return "\(format.uppercased()) images are not supported; only JPEG and PNG are decoded"
        case .unknownFormat: return "not a JPEG or PNG file (the first bytes match no known image format)"
        case let .corrupt(_, format, reason): return "the \(format) data is damaged or truncated (\(reason))"
        case let .badDimensions(_, width, height): return "image size \(width)x\(height) is empty or too large to decode"
        case let .invalidArgument(message): return message
        }
    }

    /// The path, the reason, and what to do about the file.
    public var description: String {
        guard let path else { return reason }
        return "\(TerminalText.escaped(path)): \(reason)\(advice)"
    }

    /// The image's path; nil for an argument error.
    private var path: String? {
        switch self {
        case let .unreadable(path, _), let .notAFile(path, _), let .unsupportedFormat(path, _), let .unknownFormat(path),
             let .corrupt(path, _, _), let .badDimensions(path, _, _):
            return path
        case .invalidArgument:
            return nil
        }
    }

    /// What to do about the file, after the reason.
    private var advice: String {
        switch self {
        case .unreadable: return "; check that it exists and is readable"
        case .notAFile: return "; give the path of a JPEG or PNG file"
        case .unsupportedFormat: return ". Convert the file to JPEG or PNG (or remove it from the folder)"
        case .unknownFormat: return "; remove it from the folder or convert it"
        case .corrupt: return "; re-export or re-download the image, or remove it"
        case .badDimensions, .invalidArgument: return ""
        }
    }
}
