import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A failed request in Graft's words, never Foundation's ("NSURLErrorDomain error -1001"):
/// what happened on the way to the server, with its host, and for a stall how long no data came.
enum TransportFailure {
    /// Why a request of `url` ended with the URLError `code` (URLSession's `timeoutIntervalForRequest`
    /// was `timeout` seconds).
    static func reason(code: Int?, url: URL, timeout: TimeInterval) -> String {
        let host = url.host.map { h in url.port.map { "\(h):\($0)" } ?? h } ?? "the server"
        guard let code else { return "the server sent no HTTP answer" }
        switch URLError.Code(rawValue: code) {
        case .timedOut:
            let s = Int(timeout.rounded())
            return "no data arrived for \(s) second\(s == 1 ? "" : "s") (Graft gives up after \(s) s of silence)"
        case .cannotConnectToHost:
            return "the connection to \(host) was refused (nothing listens there, or a firewall says no)"
        case .cannotFindHost, .dnsLookupFailed:
            return "the host name \(url.host ?? "?") could not be resolved (no DNS, or a typo in the URL)"
        case .notConnectedToInternet:
            return "this machine is not connected to a network"
        case .networkConnectionLost:
            return "the connection to \(host) was lost"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected,
             .clientCertificateRequired:
            return "the TLS (https) connection to \(host) failed: its certificate is not trusted here, or the handshake broke"
        case .httpTooManyRedirects, .redirectToNonExistentLocation:
            return "the server at \(host) redirected too many times, or to nowhere"
        case .unsupportedURL:
            return "the URL is not one Graft downloads (only http:// and https://)"
        case .badServerResponse, .cannotParseResponse, .cannotDecodeRawData, .cannotDecodeContentData:
            return "the answer from \(host) is not valid HTTP"
        case .userAuthenticationRequired, .userCancelledAuthentication:
            return "the server at \(host) asks for credentials, which Graft does not send"
        case .cancelled:
            return "the request was cancelled"
        default:
            return "the request to \(host) failed (network error \(code))"
        }
    }
}
