/** The extension's few messages of its own in English and Simplified Chinese, by VS Code's display language. */
export type Language = "en" | "zh-CN";

export function languageOf(displayLanguage: string | undefined): Language {
  const lowered = (displayLanguage ?? "").toLowerCase();
  return lowered.startsWith("zh") && !lowered.includes("tw") && !lowered.includes("hant") && !lowered.includes("hk")
    ? "zh-CN" : "en";
}

export function tr(language: Language, en: string, zh: string): string {
  return language === "zh-CN" ? zh : en;
}
