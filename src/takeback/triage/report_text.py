"""The triage report's words in English and Traditional Chinese (one entry per phrase, both languages
side by side so a translator sees what changed)."""

# ruff: noqa: E501  (prose reads better unbroken)

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Forensic triage report", "zh-Hant": "鑑識分流報告"},
    "subtitle": {"en": "Case {case} · generated {at}", "zh-Hant": "案件 {case} · 產生於 {at}"},
    "sensitive": {"en": "Sensitive material", "zh-Hant": "敏感資料"},
    "sensitive_body": {
        "en": "This report describes images that may be intimate and non-consensual. Thumbnails are blurred and "
        "greyscale; file paths may name the people depicted. Handle it under your evidence procedures.",
        "zh-Hant": "本報告描述可能屬私密及未經同意的影像。縮圖已模糊並轉為灰階；檔案路徑可能含有當事人姓名。請按你的證物處理程序處理。",
    },
    "revealed": {
        "en": "Thumbnails in this report are shown clear (--reveal). That choice is recorded in the custody log "
        "(entry {seq}, by {actor}).",
        "zh-Hant": "本報告的縮圖以清晰方式顯示（--reveal）。此選擇已記錄於保管鏈（第 {seq} 項，由 {actor} 作出）。",
    },
    "case": {"en": "Case", "zh-Hant": "案件"},
    "case_id": {"en": "Case id", "zh-Hant": "案件編號"},
    "examiner": {"en": "Examiner", "zh-Hant": "檢驗人員"},
    "created": {"en": "Scan started", "zh-Hant": "開始掃描"},
    "completed": {"en": "Scan completed", "zh-Hant": "完成掃描"},
    "not_completed": {"en": "not completed", "zh-Hant": "尚未完成"},
    "tool": {"en": "Tool", "zh-Hant": "工具"},
    "key": {"en": "Signing key (SHA-256 fingerprint)", "zh-Hant": "簽署金鑰（SHA-256 指紋）"},
    "sources": {"en": "Sources", "zh-Hant": "來源"},
    "source_cols": {
        "en": "#|Path|Kind|SHA-256 before|SHA-256 after",
        "zh-Hant": "#|路徑|類型|掃描前 SHA-256|掃描後 SHA-256",
    },
    "source_folder": {
        "en": "none: a folder has no single hash; its files are hashed one by one",
        "zh-Hant": "不適用：資料夾沒有單一雜湊值，其中每個檔案均逐一計算雜湊值",
    },
    "unreliable": {"en": "(unreliable)", "zh-Hant": "（不可靠）"},
    "source_missing": {"en": "none: not found", "zh-Hant": "不適用：找不到來源"},
    "source_file_after": {
        "en": "none: a file is hashed again as its item (a change is flagged)",
        "zh-Hant": "不適用：檔案會作為項目再次計算雜湊值（如有改動會標示）",
    },
    "source_pending": {"en": "not yet (scan not completed)", "zh-Hant": "尚未計算（掃描未完成）"},
    "sources_note": {
        "en": "SHA-256 before and after: the hash of each file or archive given as a source, taken before it was read "
        "(archives again after their entries were read). A folder has no single hash: every file in it is "
        "hashed one by one, and those hashes are in items.csv and hashes.sha256.",
        "zh-Hant": "掃描前及掃描後的 SHA-256：指作為來源的每個檔案或壓縮檔在讀取前計算的雜湊值（壓縮檔在讀取其內容後會再計算一次）。"
        "資料夾沒有單一雜湊值：其中每個檔案均逐一計算雜湊值，並列於 items.csv 及 hashes.sha256。",
    },
    "summary": {"en": "Summary", "zh-Hant": "摘要"},
    "count_cols": {"en": "What|Count", "zh-Hant": "項目|數量"},
    "items": {"en": "Items listed", "zh-Hant": "列出項目"},
    "processed": {"en": "Analysed", "zh-Hant": "已分析"},
    "known": {"en": "Known files (excluded, not analysed)", "zh-Hant": "已知檔案（已排除，未分析）"},
    "errors": {"en": "Items with errors", "zh-Hant": "有錯誤的項目"},
    "images": {"en": "Images", "zh-Hant": "圖像"},
    "videos": {"en": "Videos", "zh-Hant": "影片"},
    "archives": {"en": "Archives", "zh-Hant": "壓縮檔"},
    "others": {"en": "Documents and other files", "zh-Hant": "文件及其他檔案"},
    "bytes": {"en": "Bytes read", "zh-Hant": "讀取位元組"},
    "ai": {"en": "AI involvement indicated (tier 1-2)", "zh-Hant": "顯示涉及 AI（第 1-2 級）"},
    "explicit": {
        "en": "Flagged by the nudity detector (review first)",
        "zh-Hant": "裸露偵測標示（優先審閱）",
    },
    "matched": {"en": "Items matching a hash bank", "zh-Hant": "與雜湊庫相符的項目"},
    "groups_n": {"en": "Groups: {kind}", "zh-Hant": "群組：{kind}"},
    "tiers": {"en": "Provenance tiers", "zh-Hant": "來源證據等級"},
    "tiers_intro": {
        "en": "The strongest AI-related finding of each analysed image or video. A finding is evidence to "
        "explain, never a verdict; no finding means only that no provenance trace was found.",
        "zh-Hant": "每個已分析圖像或影片最強的 AI 相關發現。發現是需要解釋的證據，並非結論；沒有發現只代表找不到來源痕跡。",
    },
    "tier_cols": {"en": "Tier|Meaning|Items", "zh-Hant": "等級|含義|項目數"},
    "tier1": {"en": "Cryptographic (C2PA content credentials)", "zh-Hant": "密碼學（C2PA 內容憑證）"},
    "tier2": {
        "en": "Deterministic traces (generator metadata, watermarks)",
        "zh-Hant": "確定性痕跡（生成器中繼資料、浮水印）",
    },
    "tier3": {"en": "Weak consistency signals only", "zh-Hant": "僅有弱一致性訊號"},
    "tier4": {"en": "Classifier scores only (review ordering)", "zh-Hant": "僅有分類器分數（審閱排序）"},
    "tier_none": {"en": "No provenance found", "zh-Hant": "找不到來源痕跡"},
    "matches": {"en": "Hash bank matches", "zh-Hant": "雜湊庫相符項目"},
    "no_matches": {
        "en": "No item matched a hash bank of this installation.",
        "zh-Hant": "沒有項目與本系統的雜湊庫相符。",
    },
    "match_cols": {"en": "Item|Path|Bank, entry|Why", "zh-Hant": "項目|路徑|雜湊庫、條目|原因"},
    "groups": {"en": "Groups", "zh-Hant": "群組"},
    "groups_intro": {
        "en": "Derivation sets link pictures to the pictures made from them; near-duplicate stacks hold copies "
        "of the same picture; folder groups take their folder's name as a candidate subject label, for an "
        "examiner to confirm.",
        "zh-Hant": "衍生組將圖片與由其製作的圖片連結；近似重複組收錄同一圖片的副本；資料夾群組以資料夾名稱作為候選當事人標籤，須由檢驗人員確認。",
    },
    "kind_derivation": {"en": "derivation set", "zh-Hant": "衍生組"},
    "kind_near_duplicates": {"en": "near-duplicate stack", "zh-Hant": "近似重複組"},
    "kind_folder": {"en": "folder (candidate subject)", "zh-Hant": "資料夾（候選當事人）"},
    "group_head": {"en": "{label} — {kind}, {n} items", "zh-Hant": "{label}——{kind}，{n} 個項目"},
    "member_cols": {
        "en": "Item|Role|Path|SHA-256|PDQ q.|Tier|Nudity",
        "zh-Hant": "項目|角色|路徑|SHA-256|PDQ 品質|等級|裸露",
    },
    "link_cols": {"en": "Source|Derived|Kind|Evidence", "zh-Hant": "來源|衍生|類型|證據"},
    "more_rows": {
        "en": "… and {n} more items (see items.csv).",
        "zh-Hant": "……另有 {n} 個項目（見 items.csv）。",
    },
    "more_groups": {
        "en": "… and {n} more groups (see items.csv, column groups).",
        "zh-Hant": "……另有 {n} 個群組（見 items.csv 的 groups 欄）。",
    },
    "thumbs_blurred": {"en": "Thumbnails blurred and greyscale.", "zh-Hant": "縮圖已模糊並轉為灰階。"},
    "error_table": {"en": "Errors and warnings", "zh-Hant": "錯誤及警告"},
    "no_errors": {"en": "No item had an error.", "zh-Hant": "沒有項目出錯。"},
    "error_cols": {"en": "Item|Path|Code|Message", "zh-Hant": "項目|路徑|代碼|訊息"},
    "more_errors": {"en": "… and {n} more (see items.csv).", "zh-Hant": "……另有 {n} 項（見 items.csv）。"},
    "methods": {"en": "Methods", "zh-Hant": "方法"},
    "limitations": {"en": "Limitations", "zh-Hant": "限制"},
    "custody": {"en": "Chain of custody", "zh-Hant": "保管鏈"},
    "custody_intro": {
        "en": "Every action on this case, hash-chained and signed with this installation's Ed25519 key. "
        "`takeback case verify <folder>` checks the chain, every signature and every recorded hash. The entries "
        "recording this report and the exports follow the last one shown here; the full log is exported as "
        "custody.jsonl.",
        "zh-Hant": "本案件的每項操作均以雜湊鏈連結並以本系統的 Ed25519 金鑰簽署。`takeback case verify <資料夾>` 會檢查整條鏈、每個簽署及每個記錄的雜湊。記錄本報告及各匯出檔的項目緊隨此處最後一項之後；完整紀錄匯出為 custody.jsonl。",
    },
    "custody_cols": {"en": "#|Time (UTC)|Actor|Action|Details", "zh-Hant": "#|時間（UTC）|執行者|動作|詳情"},
    "sealed_rows": {
        "en": "{n} item batches sealed (entries {a}–{b})",
        "zh-Hant": "已封存 {n} 批項目（第 {a}–{b} 項）",
    },
    "head": {"en": "Last entry hash", "zh-Hant": "最後一項雜湊"},
    "footer": {
        "en": "takeback {version} · case {case} · sensitive: handle as evidence",
        "zh-Hant": "takeback {version} · 案件 {case} · 敏感資料：請以證物處理",
    },
    "unavailable": {"en": "not readable", "zh-Hant": "無法讀取"},
}

METHODS: dict[str, list[str]] = {
    "en": [
        "Sources are read in place and never modified: files are opened read-only (without updating access "
        "times where the system allows); archives are read without extracting anything to disk.",
        "Each file's SHA-256, SHA-1 and MD5 are computed from the bytes read; a file whose size or modification "
        "time changed between listing and reading, or during reading, is flagged and logged in custody. Each "
        "archive is hashed before its entries are read and again afterwards.",
        "Images: PDQ perceptual hash (Meta's algorithm, reimplemented and checked bit-exact) with the 8 "
        "rotations/flips; videos: vPDQ (PDQ of sampled frames).",
        "Provenance: C2PA credentials, generator metadata (A1111, ComfyUI, NovelAI, InvokeAI, Fooocus), XMP "
        "source types, stealth payloads and open invisible watermarks (not read on 4:2:0-subsampled JPEGs, "
        "where they cannot survive), in evidence tiers.",
        "Nudity: NudeNet 320n detector; its score orders review and is never a finding about a person.",
        "Bank matching: against this installation's hash banks (each bank's own PDQ threshold; allow-lists "
        "suppress matches).",
        "Known files (hash lists, NSRL RDS) are counted and not analysed.",
        "Near-duplicate stacks: identical SHA-256, or PDQ distance ≤ {threshold} in any orientation (hash quality "
        "≥ 50), or videos sharing ≥ 80 % of their frames.",
        "Derivative links: candidates from the same folder, PDQ distance ≤ {loose}, or shared creation traces "
        "(capture time + camera, EXIF image id, XMP document ids); confirmed by ORB keypoints under one "
        "similarity transform (≥ {inliers} inliers) or a localised change (most of a 3 × 3 grid of region "
        "hashes unchanged, some changed).",
    ],
    "zh-Hant": [
        "來源只在原處讀取，從不修改：檔案以唯讀方式開啟（系統容許時不更新存取時間）；壓縮檔不會解壓到磁碟。",
        "每個檔案的 SHA-256、SHA-1 及 MD5 均由實際讀取的位元組計算；列出後至讀取時或讀取期間大小或修改時間有變的檔案會被標示並記入保管鏈。每個壓縮檔在讀取其內容前後各計算一次雜湊。",
        "圖像：PDQ 感知雜湊（Meta 的演算法，重新實作並逐位元核對）連同 8 個旋轉／翻轉方向；影片：vPDQ（取樣影格的 PDQ）。",
        "來源證據：C2PA 內容憑證、生成器中繼資料（A1111、ComfyUI、NovelAI、InvokeAI、Fooocus）、XMP 來源類型、隱藏資料及公開的隱形浮水印（4:2:0 色度取樣的 JPEG 上不會讀取，因浮水印無法保留），按證據等級列出。",
        "裸露偵測：NudeNet 320n 偵測器；其分數只用於審閱排序，絕非對任何人的認定。",
        "雜湊庫比對：與本系統的雜湊庫比對（每個雜湊庫各有 PDQ 門檻；允許清單會抑制相符結果）。",
        "已知檔案（雜湊清單、NSRL RDS）只計數，不作分析。",
        "近似重複組：SHA-256 相同，或任何方向的 PDQ 距離 ≤ {threshold}（雜湊品質 ≥ 50），或影片有 ≥ 80% 影格相同。",
        "衍生連結：候選來自同一資料夾、PDQ 距離 ≤ {loose}，或共有建立痕跡（拍攝時間＋相機、EXIF 影像編號、XMP 文件編號）；以 ORB 特徵點在同一相似變換下吻合（≥ {inliers} 個）或局部改動（3 × 3 區域雜湊大多不變而部分改變）確認。",
    ],
}

LIMITS: dict[str, list[str]] = {
    "en": [
        "A missing provenance trace means nothing: metadata is stripped by most platforms and re-saving.",
        "Derivative links and their direction are leads for an examiner, not conclusions; pictures taken in "
        "the same place can share a background without one being made from the other.",
        "Folder names are candidate subject labels only.",
        "Encrypted archive entries and content over the decode limit are hashed (or listed) but not analysed.",
        "Thumbnails and pixel features are read again after the scan; an item whose bytes no longer match its "
        "recorded SHA-256 is shown as unreadable.",
    ],
    "zh-Hant": [
        "找不到來源痕跡不代表任何事：大多數平台及重新儲存都會移除中繼資料。",
        "衍生連結及其方向只是供檢驗人員跟進的線索，並非結論；在同一地點拍攝的圖片可能有相同背景，但不代表其中一張由另一張製成。",
        "資料夾名稱只是候選當事人標籤。",
        "加密的壓縮檔項目及超出解碼上限的內容只會計算雜湊（或列出），不作分析。",
        "縮圖及像素特徵在掃描後重新讀取；位元組與記錄的 SHA-256 不再相符的項目會顯示為無法讀取。",
    ],
}
