import Foundation
import Hummingbird
import JobQueue
import Market
import MarketStore

extension Console {
    /// Unmet demand (`pdxctl report demand-gaps` as a page): which demand no product serves, and why —
    /// what public data to open next.
    func gaps(_ page: ConsolePage) async throws -> Content {
        let sector = page.query["sector"]
        let gaps = try await store.demandGaps(since: nil, sector: sector, limit: 200)
        let table = page.t("Table", "表格")
        let plot = Plot.bars(PlotText(title: page.t("Demands no product serves, by sector and scenario (top 15)", "无产品可满足的需求（按行业与场景，前 15）"),
                                      xName: page.t("sector · scenario", "行业 · 场景"), unit: page.t("demands", "需求数"), table: table),
                             bars: gaps.prefix(15).map { ("\($0.sectorName) · \($0.scenario)", Double($0.demands)) })
        let rows = gaps.map { gap in
            [HTML("\(gap.sectorName) <span class=\"muted\">\(gap.sector)</span>"), HTML("\(gap.scenario)"), HTML("\(gap.regions.joined(separator: ", "))"),
             HTML("\(Widgets.count(gap.demands))"), HTML("\(Widgets.count(gap.demanders))"), HTML("\(Widgets.yuan(gap.totalBudgetFen))"),
             HTML("\(gap.diagnosis.description)"), HTML("\(gap.missingFields.joined(separator: ", "))"),
             HTML("\(Widgets.count(gap.listedInSector)) / \(Widgets.count(gap.listedInRegion))"), HTML("\(Widgets.day(gap.oldest))"),
             HTML("\(gap.examples.prefix(3).joined(separator: " · "))")]
        }
        return Content(title: page.t("Unmet demand: what public data to open next", "未满足需求：下一步开放哪些公共数据"), body: HTML("""
            <form class="inline" method="get" action="/console/gaps">
            <label>\(page.t("sector", "行业")) <input name="sector" value="\(sector ?? "")" placeholder="transport"></label>
            <button type="submit">\(page.t("Filter", "筛选"))</button></form>
            \(plot)
            \(Widgets.table([.init(page.t("sector", "行业")), .init(page.t("scenario", "场景")), .init(page.t("regions", "地区")),
                             .init(page.t("demands", "需求"), numeric: true), .init(page.t("demanders", "需求方"), numeric: true),
                             .init(page.t("budget", "预算"), numeric: true), .init(page.t("first rule nothing passes", "首个无产品通过的规则")),
                             .init(page.t("fields wanted, missing", "缺少的字段")), .init(page.t("listed in sector / region", "行业 / 地区内上架"), numeric: true),
                             .init(page.t("oldest", "最早")), .init(page.t("for example", "示例"))],
                            rows, empty: page.t("Every open demand has a product that could serve it.", "所有开放需求都有可满足的产品。"), id: "gaps"))
            """))
    }

    /// Matches, filtered by state, sector, demand or product; each opens to the reasons of its score.
    func matches(_ page: ConsolePage) async throws -> Content {
        var filter = MatchFilter(limit: 200)
        if let state = page.query["state"] {
            guard let parsed = MatchState(rawValue: state) else { throw MarketInputError(field: "state", rule: "must be proposed, accepted, declined or withdrawn") }
            filter.state = parsed
        }
        filter.sector = page.query["sector"]
        if let demand = page.query["demand"] { filter.demandID = try Self.uuid(demand, "demand") }
        if let product = page.query["product"] { filter.productID = try Self.uuid(product, "product") }
        let found = try await store.matches(filter)
        let states = ["", "proposed", "accepted", "declined", "withdrawn"].map { state in
            HTML("<option value=\"\(state)\"\(state == (page.query["state"] ?? "") ? HTML(" selected") : .empty)>\(state.isEmpty ? page.t("any state", "全部状态") : state)</option>")
        }
        let rows = found.map { match in
            [HTML("<a href=\"/console/matches/\(Widgets.id(match.id))\">\(Widgets.short(match.id))</a>"), HTML("\(Widgets.time(match.createdAt))"),
             HTML("<span class=\"pill\">\(match.state.rawValue)</span>"), HTML("\(String(format: "%.3f", match.score))"), HTML("\(match.demandTitle)"),
             HTML("\(match.productTitle)"), HTML("\(match.sector)"), HTML("\(Widgets.yuan(match.quoteFen))")]
        }
        return Content(title: page.t("Matches", "撮合"), body: HTML("""
            <form class="inline" method="get" action="/console/matches">
            <select name="state">\(states)</select>
            <input name="sector" value="\(page.query["sector"] ?? "")" placeholder="\(page.t("sector", "行业"))">
            <input name="demand" value="\(page.query["demand"] ?? "")" placeholder="\(page.t("demand id", "需求编号"))">
            <input name="product" value="\(page.query["product"] ?? "")" placeholder="\(page.t("product id", "产品编号"))">
            <button type="submit">\(page.t("Filter", "筛选"))</button></form>
            \(Widgets.table([.init(page.t("match", "撮合")), .init(page.t("proposed", "提出时间")), .init(page.t("state", "状态")),
                             .init(page.t("score", "得分"), numeric: true), .init(page.t("demand", "需求")), .init(page.t("product", "产品")),
                             .init(page.t("sector", "行业")), .init(page.t("quote", "报价"), numeric: true)],
                            rows, empty: page.t("No match found.", "没有符合条件的撮合。"), id: "matches"))
            <p class="muted">\(page.t("Newest first, at most 200.", "按时间倒序，最多 200 条。"))</p>
            """))
    }

    /// One match: the score's reasons (value × weight adds up to the score) and the quote's lines.
    func match(_ page: ConsolePage, id: UUID) async throws -> Content {
        let detail = try await store.matchDetail(id)
        let summary = detail.summary
        let table = page.t("Table", "表格")
        let reasons = Plot.bars(PlotText(title: page.t("What the score is made of (value × weight)", "得分构成（值 × 权重）"),
                                         xName: page.t("component", "因素"), unit: page.t("points", "分"), table: table),
                                bars: detail.reasons.map { ($0.component, $0.value * $0.weight) }, format: { String(format: "%.3f", $0) })
        let reasonRows = detail.reasons.map { reason in
            [HTML("\(reason.component)"), HTML("\(String(format: "%.3f", reason.value))"), HTML("\(String(format: "%.2f", reason.weight))"),
             HTML("\(String(format: "%.3f", reason.value * reason.weight))"), HTML("\(reason.detail)")]
        }
        let quoteRows = detail.quote.lines.map { [HTML("\($0.step)"), HTML("\($0.detail)"), HTML("\(Widgets.yuan($0.amountFen))")] }
        return Content(title: page.t("Match", "撮合") + " " + Widgets.short(id), body: HTML("""
            <div class="card">
            <p><span class="pill">\(summary.state.rawValue)</span> \(detail.stateReason.map { HTML("· \($0)") } ?? .empty) · \(page.t("score", "得分")) <strong>\(String(format: "%.3f", summary.score))</strong> · \(Widgets.time(summary.createdAt))</p>
            <p>\(page.t("Demand", "需求")): <strong>\(summary.demandTitle)</strong> (\(summary.demanderName), \(detail.purpose.rawValue), \(page.t("budget", "预算")) \(Widgets.yuan(detail.budgetFen)))<br>
            \(page.t("Product", "产品")): <strong>\(summary.productTitle)</strong> v\(summary.productVersion) (\(summary.operatorName))</p>
            </div>
            \(reasons)
            \(Widgets.table([.init(page.t("component", "因素")), .init(page.t("value", "值"), numeric: true), .init(page.t("weight", "权重"), numeric: true),
                             .init(page.t("points", "得分"), numeric: true), .init(page.t("why", "原因"))], reasonRows, empty: "–", id: "reasons"))
            <h2>\(page.t("Quote", "报价")) \(Widgets.yuan(detail.quote.amountFen))</h2>
            \(Widgets.table([.init(page.t("step", "步骤")), .init(page.t("detail", "说明")), .init(page.t("amount", "金额"), numeric: true)],
                            quoteRows, empty: "–", id: "quote"))
            <p><a href="/console/matches?demand=\(Widgets.id(summary.demandID))">\(page.t("Other matches of this demand", "该需求的其他撮合"))</a></p>
            """))
    }

    /// The job queue: depth, throughput and failures per kind over 24 hours; jobs failing, to retry or
    /// cancel with a reason (audited). Live.
    func queue(_ page: ConsolePage) async throws -> Content {
        let activity = try await store.queueActivity(hours: 24)
        let hours = activity.hourly.hours.map { $0.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).time(includingFractionalSeconds: false)).prefix(5) }.map(String.init)
        let table = page.t("Table", "表格")
        func series(_ values: [String: [Int]]) -> [PlotSeries] {
            values.keys.sorted().map { PlotSeries(name: $0, values: values[$0, default: []].map(Double.init)) }
        }
        let x = page.t("hour (UTC)", "小时（UTC）")
        let depth = Plot.line(PlotText(title: page.t("Jobs waiting or running at the end of each hour", "每小时末排队或运行中的任务"), xName: x,
                                       unit: page.t("jobs", "任务"), table: table), x: hours, series: series(activity.hourly.depth))
        let done = Plot.line(PlotText(title: page.t("Jobs completed per hour", "每小时完成的任务"), xName: x, unit: page.t("jobs", "任务"), table: table),
                             x: hours, series: series(activity.hourly.completed))
        let failed = Plot.line(PlotText(title: page.t("Attempts failed per hour", "每小时失败的尝试"), xName: x, unit: page.t("attempts", "次"), table: table),
                               x: hours, series: series(activity.hourly.failed))
        let statRows = activity.stats.map { stat in
            [HTML("\(stat.queue)"), HTML("\(Widgets.count(stat.available))"), HTML("\(Widgets.count(stat.scheduled))"), HTML("\(Widgets.count(stat.running))"),
             HTML("\(Widgets.count(stat.retryable))"), HTML("\(Widgets.count(stat.completedLastMinute))"), HTML("\(Widgets.count(stat.discarded))"),
             HTML("\(Widgets.count(stat.cancelled))"), HTML("\(Widgets.duration(stat.oldestAvailableAgeSeconds))")]
        }
        let jobRows = activity.failing.map { job in
            [HTML("\(job.id)"), HTML("\(job.kind)"), HTML("<span class=\"pill\">\(job.state)</span>"), HTML("\(job.attempt) / \(job.maxAttempts)"),
             HTML("<pre>\(job.errors.last?.error ?? "")</pre>"),
             HTML("""
                <form class="inline" method="post" action="/console/queue/\(job.id)/retry">\(page.csrfField)<input name="reason" required placeholder="\(page.t("reason", "原因"))" aria-label="\(page.t("reason", "原因"))"><button type="submit">\(page.t("Retry", "重试"))</button></form>
                <form class="inline" method="post" action="/console/queue/\(job.id)/cancel">\(page.csrfField)<input name="reason" required placeholder="\(page.t("reason", "原因"))" aria-label="\(page.t("reason", "原因"))"><button type="submit" class="danger">\(page.t("Cancel", "取消"))</button></form>
                """)]
        }
        let notice: HTML = switch page.query["done"] {
        case "retry": HTML("<p class=\"notice\">\(page.t("The job is available again.", "任务已重新排队。"))</p>")
        case "cancel": HTML("<p class=\"notice\">\(page.t("The job is cancelled.", "任务已取消。"))</p>")
        default: .empty
        }
        return Content(title: page.t("Job queue", "任务队列"), body: HTML("""
            \(notice)
            \(Widgets.table([.init(page.t("queue", "队列")), .init(page.t("available", "可执行"), numeric: true), .init(page.t("scheduled", "计划中"), numeric: true),
                             .init(page.t("running", "运行中"), numeric: true), .init(page.t("retryable", "待重试"), numeric: true),
                             .init(page.t("completed, last minute", "近一分钟完成"), numeric: true), .init(page.t("discarded", "已放弃"), numeric: true),
                             .init(page.t("cancelled", "已取消"), numeric: true), .init(page.t("oldest waiting", "最久等待"), numeric: true)],
                            statRows, empty: page.t("The queue is empty.", "队列为空。"), id: "queues"))
            \(depth)
            <div class="grid">\(done)\(failed)</div>
            <h2>\(page.t("Jobs failing", "失败的任务"))</h2>
            \(Widgets.table([.init("id", numeric: true), .init(page.t("kind", "类型")), .init(page.t("state", "状态")), .init(page.t("attempts", "尝试"), numeric: true),
                             .init(page.t("last error", "最近错误")), .init(page.t("act", "操作"))],
                            jobRows, empty: page.t("No job is failing.", "没有失败的任务。"), id: "failing"))
            """), live: "queue")
    }

    func changeJob(_ page: ConsolePage, _ fields: FormFields, id: String?, action: String?) async throws -> Response {
        guard let id = id.flatMap(Int64.init), id > 0 else { throw MarketInputError(field: "job", rule: "must be a job's number") }
        guard let reason = fields["reason"] else { throw MarketInputError(field: "reason", rule: "must not be empty: say why") }
        guard let actor = page.viewer?.actor else { throw MarketInputError(field: "session", rule: "must be signed in") }
        let changed: Bool
        switch action {
        case "retry": changed = try await store.retryJob(id, reason: reason, by: actor)
        case "cancel": changed = try await store.cancelJob(id, reason: reason, by: actor)
        default: throw MarketNotFound("job action", UUID())
        }
        guard changed else {
            throw TransitionRefused(subject: "job \(id)", from: "its state", to: action == "retry" ? "available" : "cancelled", allowed: [])
        }
        return Self.redirect("/console/queue?done=\(action ?? "")")
    }

    /// Revenue against the maximum allowed revenue per operator, for a year.
    func revenue(_ page: ConsolePage) async throws -> Content {
        let thisYear = Calendar(identifier: .gregorian).dateComponents(in: .gmt, from: try await store.now()).year ?? 2026
        var year = thisYear
        if let asked = page.query["year"] {
            guard let parsed = Int(asked), (2000...2100).contains(parsed) else { throw MarketInputError(field: "year", rule: "must be a year from 2000 to 2100") }
            year = parsed
        }
        let report = try await store.revenueReport(year: year)
        let table = page.t("Table", "表格")
        let plot = Plot.bars(PlotText(title: page.t("Revenue (bars) against the allowed maximum (marks), per operator", "各运营方收入（条）与允许的最高收入（标记）"),
                                      xName: page.t("operator", "运营方"), unit: "¥", table: table),
                             bars: report.map { ($0.name, Self.yuanValue($0.revenueFen)) },
                             secondary: report.map { $0.effectiveAllowanceFen.map(Self.yuanValue) }, secondaryName: page.t("allowed", "允许上限"))
        let rows = report.map { line in
            [HTML("\(line.name)"), HTML("\(Widgets.yuan(line.revenueFen))"), HTML("\(line.allowanceFen.map { Widgets.yuan($0) } ?? page.t("none set", "未设定"))"),
             HTML("\(Widgets.yuan(line.deductionFen))"), HTML("\(line.effectiveAllowanceFen.map { Widgets.yuan($0) } ?? "–")"),
             line.overageFen > 0 ? HTML("<span class=\"error\">\(Widgets.yuan(line.overageFen))</span>") : HTML("\(Widgets.yuan(line.overageFen))")]
        }
        return Content(title: page.t("Revenue against the allowed maximum", "收入与允许的最高收入"), body: HTML("""
            <form class="inline" method="get" action="/console/revenue"><label>\(page.t("year", "年份")) <input name="year" type="number" min="2000" max="2100" value="\(year)"></label>
            <button type="submit">\(page.t("Show", "查看"))</button></form>
            \(plot)
            \(Widgets.table([.init(page.t("operator", "运营方")), .init(page.t("revenue", "收入"), numeric: true), .init(page.t("allowance", "额度"), numeric: true),
                             .init(page.t("deducted for last year", "上年超额扣减"), numeric: true), .init(page.t("allowed", "允许上限"), numeric: true),
                             .init(page.t("over", "超出"), numeric: true)],
                            rows, empty: page.t("No operator had revenue this year.", "本年度没有运营方收入。"), id: "revenue"))
            """))
    }

    static func yuanValue(_ fen: Decimal) -> Double { NSDecimalNumber(decimal: fen).doubleValue / 100 }

    /// The audit trail, newest first, searched by actor, action (or an action's prefix, `pricing.`),
    /// subject and time; 100 a page.
    func audit(_ page: ConsolePage) async throws -> Content {
        var search = AuditQuery(actor: page.query["actor"], action: page.query["action"], subjectID: page.query["subject"], limit: 100)
        if let since = page.query["since"] { search.since = try Self.date(since, "since") }
        if let until = page.query["until"] { search.until = try Self.date(until, "until").addingTimeInterval(86_400) }
        if let before = page.query["before"] {
            guard let id = Int64(before) else { throw MarketInputError(field: "before", rule: "must be an event's number") }
            search.before = id
        }
        let events = try await store.auditEvents(search)
        let rows = events.map { event in
            [HTML("\(event.id)"), HTML("\(Widgets.time(event.at))"), HTML("\(event.actor)"), HTML("<code>\(event.action)</code>"),
             HTML("\(event.subjectType) <code>\(event.subjectID)</code>"), HTML("\(event.reason ?? "")"),
             HTML("<pre>\(event.after ?? event.before ?? "")</pre>")]
        }
        var next = page.query
        next["before"] = events.last.map { String($0.id) }
        next["lang"] = nil
        let more = events.count == search.limit ? HTML("<p><a href=\"/console/audit?\(Layout.encode(next))\">\(page.t("Older", "更早"))</a></p>") : .empty
        return Content(title: page.t("Audit trail", "审计日志"), body: HTML("""
            <form class="stack" method="get" action="/console/audit">
            <label>\(page.t("actor", "操作者")) <input name="actor" value="\(search.actor ?? "")" placeholder="admin:alice"></label>
            <label>\(page.t("action or prefix", "操作或前缀")) <input name="action" value="\(search.action ?? "")" placeholder="pricing."></label>
            <label>\(page.t("subject id", "对象编号")) <input name="subject" value="\(search.subjectID ?? "")"></label>
            <label>\(page.t("from (UTC day)", "起始日期（UTC）")) <input name="since" type="date" value="\(page.query["since"] ?? "")"></label>
            <label>\(page.t("to (UTC day)", "截止日期（UTC）")) <input name="until" type="date" value="\(page.query["until"] ?? "")"></label>
            <button type="submit">\(page.t("Search", "搜索"))</button>
            </form>
            \(Widgets.table([.init("#", numeric: true), .init(page.t("at", "时间")), .init(page.t("actor", "操作者")), .init(page.t("action", "操作")),
                             .init(page.t("subject", "对象")), .init(page.t("reason", "原因")), .init(page.t("change", "变更"))],
                            rows, empty: page.t("No event matches.", "没有匹配的事件。"), id: "audit"))
            \(more)
            """))
    }

    /// `YYYY-MM-DD` as the start of that UTC day.
    static func date(_ text: String, _ field: String) throws(MarketInputError) -> Date {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, let date = DateComponents(calendar: Calendar(identifier: .gregorian), timeZone: .gmt,
                                                          year: parts[0], month: parts[1], day: parts[2]).date,
              (1...12).contains(parts[1]), (1...31).contains(parts[2]) else {
            throw MarketInputError(field: field, rule: "must be a day, YYYY-MM-DD")
        }
        return date
    }
}
