import Foundation
public import Market
import Postgres

/// A sector or a scenario the market knows, with its Chinese and English labels.
public struct Term: Sendable, Codable, Equatable {
    public var code: String
    public var nameZH: String
    public var nameEN: String

    public init(code: String, nameZH: String, nameEN: String) {
        self.code = code
        self.nameZH = nameZH
        self.nameEN = nameEN
    }
}

/// The market's managed lists: demands, products, resources, grants and applications accept only their codes.
public enum Vocabulary: String, Sendable, CaseIterable {
    case sectors, scenarios

    /// The singular, for messages and the audit trail.
    public var noun: String { self == .sectors ? "sector" : "scenario" }

    /// What a code must look like.
    public var codeRule: String {
        self == .sectors ? "must be 2 to 40 lowercase letters or underscores, starting with a letter"
                         : "must be 1 to 64 lowercase letters, digits, '_', '.' or '-', starting with a letter or digit"
    }

    /// Refuses a code that does not look like one of this list's.
    public func checkCode(_ code: String) throws(MarketInputError) {
        let ok = self == .sectors ? code.wholeMatch(of: #/[a-z][a-z_]{1,39}/#) != nil : code.wholeMatch(of: #/[a-z0-9][a-z0-9_.-]{0,63}/#) != nil
        guard ok else { throw MarketInputError(field: "code", rule: codeRule) }
    }
}

extension MarketStore {
    /// Every term of a list, by code.
    public func terms(_ vocabulary: Vocabulary) async throws -> [Term] {
        try await query("SELECT code, name_zh, name_en FROM \(unsafeRaw: vocabulary.rawValue) ORDER BY code")
            .decode(String.self, String.self, String.self).map { Term(code: $0.0, nameZH: $0.1, nameEN: $0.2) }
    }

    /// Adds a term (a code already known is refused), audited.
    public func addTerm(_ term: Term, to vocabulary: Vocabulary, by actor: Actor) async throws {
        try vocabulary.checkCode(term.code)
        try validateText(term.nameZH, field: "name_zh", maxLength: 100)
        try validateText(term.nameEN, field: "name_en", maxLength: 100)
        try await transaction { connection in
            let added = try await connection.execute("""
                INSERT INTO \(unsafeRaw: vocabulary.rawValue) (code, name_zh, name_en) VALUES (\(term.code), \(term.nameZH), \(term.nameEN))
                ON CONFLICT (code) DO NOTHING
                """)
            guard added == 1 else { throw MarketInputError(field: "code", rule: "is already a known \(vocabulary.noun)") }
            try await connection.audit(actor, "\(vocabulary.noun).add", vocabulary.noun, term.code, after: try json(term))
        }
    }

    /// Changes a term's labels (its code, which data refers to, never changes), audited before and after.
    public func renameTerm(_ code: String, in vocabulary: Vocabulary, nameZH: String?, nameEN: String?, by actor: Actor) async throws -> Term {
        guard nameZH != nil || nameEN != nil else { throw MarketInputError(field: "name", rule: "give --name-zh, --name-en or both") }
        if let nameZH { try validateText(nameZH, field: "name_zh", maxLength: 100) }
        if let nameEN { try validateText(nameEN, field: "name_en", maxLength: 100) }
        return try await transaction { connection in
            guard let before = try await connection.query("""
                SELECT name_zh, name_en FROM \(unsafeRaw: vocabulary.rawValue) WHERE code = \(code) FOR UPDATE
                """).decode(String.self, String.self).first else {
                throw MarketInputError(field: "code", rule: "is not a known \(vocabulary.noun)")
            }
            let after = Term(code: code, nameZH: nameZH ?? before.0, nameEN: nameEN ?? before.1)
            try await connection.execute("""
                UPDATE \(unsafeRaw: vocabulary.rawValue) SET name_zh = \(after.nameZH), name_en = \(after.nameEN) WHERE code = \(code)
                """)
            try await connection.audit(actor, "\(vocabulary.noun).rename", vocabulary.noun, code,
                                       before: try json(Term(code: code, nameZH: before.0, nameEN: before.1)), after: try json(after))
            return after
        }
    }
}
