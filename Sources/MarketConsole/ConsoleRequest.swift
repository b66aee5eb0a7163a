import Foundation
import HTTPTypes
import Hummingbird
import MarketStore

/// The reader's language: every label is written in both and shown in one.
public enum ConsoleLanguage: String, Sendable {
    case en, zh

    /// `?lang=` first, then the `pdx_lang` cookie, then `Accept-Language` (Chinese when it comes first), else English.
    static func of(_ request: Request) -> ConsoleLanguage {
        if let asked = request.uri.queryParameters.get("lang").flatMap(ConsoleLanguage.init(rawValue:)) { return asked }
        if let kept = Cookies.value("pdx_lang", in: request).flatMap(ConsoleLanguage.init(rawValue:)) { return kept }
        let accept = request.headers[.acceptLanguage]?.lowercased() ?? ""
        return accept.hasPrefix("zh") ? .zh : .en
    }
}

/// One request to the console as pages see it: who asks, in which language, where.
struct ConsolePage: Sendable {
    var viewer: ConsoleViewer?
    var language: ConsoleLanguage
    var path: String
    var query: [String: String]

    /// A label in the reader's language.
    func t(_ en: String, _ zh: String) -> String { language == .zh ? zh : en }

    var isAdministrator: Bool {
        if case .administrator = viewer?.role { return true }
        return false
    }

    /// The page a form of this path was sent from.
    var formPage: String {
        if path.hasPrefix("/console/queue/") { return "/console/queue" }
        return path.hasSuffix("/retire") ? String(path.dropLast("/retire".count)) : path
    }

    /// A form's hidden CSRF field.
    var csrfField: HTML {
        HTML("<input type=\"hidden\" name=\"csrf\" value=\"\(viewer?.csrfToken ?? "")\">")
    }
}

/// Reading cookies and writing them with the console's flags.
enum Cookies {
    static func value(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// `Set-Cookie` for a console cookie: HttpOnly, SameSite=Strict, path /console, Secure unless told otherwise.
    static func set(_ name: String, _ value: String, maxAge: Int, secure: Bool, httpOnly: Bool = true) -> String {
        "\(name)=\(value); Path=/console; Max-Age=\(maxAge); SameSite=Strict" + (httpOnly ? "; HttpOnly" : "") + (secure ? "; Secure" : "")
    }
}

/// A form's fields (`application/x-www-form-urlencoded`), each name with its values in order.
struct FormFields: Sendable {
    var values: [String: [String]] = [:]

    init(_ body: String) {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            let name = decode(parts[0]), value = parts.count == 2 ? decode(parts[1]) : ""
            values[name, default: []].append(value)
        }
    }

    /// The field's first value, trimmed; nil when absent or empty.
    subscript(_ name: String) -> String? {
        guard let value = values[name]?.first?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    /// Every non-empty value of a field (and of a comma-separated one).
    func all(_ name: String) -> [String] {
        (values[name] ?? []).flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
