"""The detector rows for other languages (es, fr, de, it, pt, ru, zh, ja, ko), written by hand.

Plain data, like detectors_en.py: the start literals are generated into
starts.py from these regexes; run scripts/generate-injection-tables after
changing one.
"""

from __future__ import annotations

from typing import Final

from gateway_cli.guards.injection.detector import Detector, rx
from gateway_cli.guards.injection.views import wordset

# Core override and extraction phrases in other languages. Literal enough that a
# hit is a strong signal.
_EVERYTHING: Final = ("todo", "tout", "alles", "tutto", "tudo", "всё", "все")
DETECTORS: Final[tuple[Detector, ...]] = (
    Detector(
        "instruction_override",
        rx(  # es, pt, it, fr, de
            r"\bignor(?:a|ar|e|ez|er|ate|iere|ieren|ieren sie)\s++(?:\w{1,15}+\s++){0,3}?"
            r"(?:instrucciones|instruções|instrucoes|instructions|istruzioni|anweisungen"
            r"|indicaciones|consignes|regeln|reglas|regole|regras|befehle|ordens|órdenes|ordini)"
            r"|\b(?:olvida|olvidar|oublie|oubliez|vergiss|vergessen sie|esqueça|esqueca|dimentica)"
            r"\s++(?:\w{1,15}+\s++){0,3}?"
            r"(?:instrucciones|instruções|instrucoes|instructions|istruzioni|anweisungen"
            r"|reglas|règles|regeln|regole|regras)"
            r"|\b(?:игнорируй|игнорируйте|забудь|забудьте)\s++(?:\w{1,15}+\s++){0,3}?"
            r"(?:инструкции|указания|команды|правила)"
        ),
        0.9, wordset("ignora ignorar ignore ignorez ignorer ignorate ignoriere ignorieren olvida"
                     " olvidar oublie oubliez vergiss vergessen esqueça esqueca dimentica"
                     " игнорируй игнорируйте забудь забудьте"),
        need=("instrucciones", "instruções", "instrucoes", "instructions", "istruzioni",
              "anweisungen", "indicaciones", "consignes", "regeln", "reglas", "regole",
              "regras", "befehle", "ordens", "órdenes", "ordini", "règles", "инструкции",
              "указания", "команды", "правила"),
    ),
    Detector(
        "instruction_override",
        rx(r"忽略(?:之前|以前|上面|上述|先前|前面|所有|全部|你)?的?(?:所有|全部)?的?"
           r"(?:指令|指示|说明|命令|提示|规则)"
           r"|(?:以前|前|上記|これまで|先)の(?:すべての)?(?:指示|命令|指令|ルール)を(?:すべて)?無視"
           r"|(?:指示|命令|指令)を(?:すべて)?無視"),
        0.9, frozenset(), ("忽略", "無視"), view="lower", non_ascii=True,
    ),
    Detector(
        "prompt_extraction",
        rx(r"\b(?:muestra|revela|repite|imprime|dime|montre|révèle|revele|répète|repete|affiche"
           r"|zeige|zeig|wiederhole|gib|mostra|rivela|ripeti|mostre|revele|repita)"
           r"\s+(?:(?:me|mir|moi|mi|tu|tus|el|la|las|ton|ta|tes|votre|vos|deinen|deine|den|die"
           r"|il|le|i|seu|sua|suas|o|a|as)\s+){0,3}"
           r"(?:prompt|instrucciones|instructions|anweisungen|istruzioni|instruções|instrucoes"
           r"|mensaje del sistema|systemprompt|system-prompt)"
           r"|(?:显示|输出|告诉我|重复|打印|泄露)(?:你的)?(?:系统提示|提示词|系统指令|初始指令)"
           r"|システムプロンプト(?:を|の内容を)?(?:表示|教えて|出力|見せて)"
           r"|(?:покажи|выведи|повтори|раскрой)(?:те)?\s+(?:(?:свой|свои|твой|твои|мне)\s+){0,2}"
           r"(?:системный промпт|системные инструкции|инструкции)"),
        0.85, wordset("prompt instrucciones instructions anweisungen istruzioni instruções"
                      " instrucoes systemprompt system промпт инструкции"),
        ("系统提示", "提示词", "系统指令", "初始指令", "システムプロンプト"),
        need=("muestra", "revela", "repite", "imprime", "dime", "montre", "révèle", "revele",
              "répète", "repete", "affiche", "zeig", "wiederhole", "gib", "mostra", "rivela",
              "ripeti", "mostre", "repita", "显示", "输出", "告诉我", "重复", "打印", "泄露",
              "システムプロンプト", "покажи", "выведи", "повтори", "раскрой"),
    ),
    Detector(
        "instruction_override",
        rx(r"(?:忽视|忽視|无视)(?:之前|以前|上面|上述|先前|前面|所有|全部|你)?的?(?:所有|全部)?的?"
           r"(?:指令|指示|说明|說明|命令|提示|规则|規則)"
           r"|(?:지시|명령|지침|규칙|프롬프트)(?:을|를|은|는|사항을)?\s*(?:모두\s*)?무시"),
        0.9, frozenset(), ("忽视", "忽視", "无视", "무시"), view="lower", non_ascii=True,
    ),
    Detector(
        # "Forget everything": es, fr, de, it, pt, ru; with "before"/"above" it is
        # the override itself, alone it may be a figure of speech.
        "instruction_override",
        rx(r"\b(?:olvida|olvídate de|oublie|oubliez|vergiss|vergessen sie|dimentica|dimenticate"
           r"|esqueça|esqueca|esquece|забудь|забудьте)\s+(?:todo|tout|alles|tutto|tudo|всё|все)\b"
           r"(?:[\s\w,'\u2019]{0,30}?\b(?:anterior(?:es|mente)?|antes|précéd\w*|preced\w*|avant|ci-dessus"
           r"|vorher|davor|bisher|zuvor|oben|obigen?|precedent[ei]|prima|sopra|acima|ранее|выше"
           r"|прежде))?"
           r"|忘(?:记|掉|記)(?:之前|以前|上面|上述|先前)的?(?:所有|一切|全部)?"
           r"|(?:これまで|以前|前|上)の(?:指示|命令|内容|会話)を(?:すべて|全部)?忘れ"),
        0.45, wordset("olvida olvídate oublie oubliez vergiss vergessen dimentica dimenticate"
                      " esqueça esqueca esquece забудь забудьте"),
        ("忘记", "忘掉", "忘記", "忘れ"),
        adjust=lambda m: 0.45 if m.endswith(_EVERYTHING) else 0.85,
    ),
    # "From now on you are ...": es/pt, fr, de, it, ru, then zh, ja, ko. Each
    # starts with its literal (no leading \b) so `re` skips ahead to it.
    Detector(
        "instruction_override",
        rx(r"a partir de (?:ahora|agora|hoy|hoje)[\s,]+(?:(?:tú|tu|usted|você)\s+)?(?:eres|serás"
           r"|seras|vas a|vai|actuarás|responderás|debes|deve|deves|é|és|será)(?!\w)"),
        0.45, wordset("partir"),
        also=wordset("eres serás seras vas vai actuarás responderás debes deve deves é és será"),
    ),
    Detector(
        "instruction_override",
        rx(r"(?:à partir de maintenant|désormais|dorénavant)[\s,]+(?:tu|vous)\s+(?:es|êtes|seras"
           r"|serez|vas|allez|dois|devez|agiras|répondras)(?!\w)"),
        0.45, wordset("maintenant désormais dorénavant"), also=wordset("tu vous"),
    ),
    Detector(
        "instruction_override",
        rx(r"(?:ab (?:jetzt|sofort)|von nun an)[\s,]+(?:bist|wirst|sollst|musst|antwortest)\s+du\b"
           r"|du bist (?:jetzt|nun|ab sofort)\b"),
        0.45, wordset("jetzt sofort nun"), also=wordset("du"),
    ),
    Detector(
        "instruction_override",
        rx(r"(?:da (?:ora|adesso)|d'ora) in (?:poi|avanti)[\s,]+(?:tu\s+)?"
           r"(?:sei|sarai|devi|risponderai|agirai)\b"),
        0.45, wordset("ora adesso d'ora"), also=wordset("poi avanti"),
    ),
    Detector(
        "instruction_override",
        rx(r"(?:с этого момента|отныне)[\s,]+ты(?!\w)"),  # noqa: RUF001
        0.45, wordset("момента отныне"), also=wordset("ты"),
    ),
    Detector(
        "instruction_override",
        rx(r"(?:从现在开始|從現在開始|从现在起|從現在起|从今以后|從今以後)[\uff0c,\s]*你(?:是|将|將|要"
           r"|必须|必須|会|會|就是|扮演)"
           r"|(?:今から|これから|今後)[、,\s]*(?:あなた|君|お前)は"
           r"|(?:지금부터|이제부터)\s*(?:너는|당신은|넌)"),
        0.45, frozenset(),
        ("从现在", "從現在", "从今以后", "從今以後", "今から", "これから", "今後", "지금부터",
         "이제부터"),
        view="lower", non_ascii=True,
    ),
    Detector(
        # "Without restrictions / censorship / filters": es, fr, de, it, pt, ru, zh, ja, ko.
        "jailbreak_no_limits",
        rx(r"\b(?:sin|sans|ohne|senza|sem|без)\s+(?:ningun[ao]s?\s+|ningún\s+|aucune?s?\s+"
           r"|jegliche[nr]?\s+|irgendwelche\s+|alcun[ao]?\s+|alcune\s+|nenhum[ao]?\s+|qualquer\s+"
           r"|каких-либо\s+|всяких\s+|любых\s+)?(?:restricci[oó]n(?:es)?|restrictions?"
           r"|einschränkungen|beschränkungen|restrizioni|restrições|restricoes|ограничений|censura"
           r"|censure|zensur|цензуры|filtros?|filtres?|filter|filtri|фильтров)(?!\w)"),
        0.4, wordset("sin sans ohne senza sem без"),
        also=wordset("restricción restriccion restricciones restriction restrictions"
                     " einschränkungen beschränkungen restrizioni restrições restricoes ограничений"
                     " censura censure zensur цензуры filtro filtros filtre filtres filter filtri"
                     " фильтров"),
    ),
    Detector(
        "jailbreak_no_limits",
        rx(r"(?:没有|沒有|不受|无|無)(?:任何)?的?(?:限制|约束|約束|审查|審查|过滤|過濾)"
           r"|制限(?:なし|のない|は(?:一切)?ありません|を受けない)|検閲(?:なし|のない|されていない)"
           r"|(?:제한|검열)\s?(?:없이|이 없는|없는)"),
        0.4, frozenset(),
        ("限制", "约束", "約束", "审查", "審查", "过滤", "過濾", "制限", "検閲", "제한", "검열"),
        view="lower", non_ascii=True,
    ),
    Detector(
        "character_lock",
        rx(r"\b(?:mantente|mantén|permanece|quédate) en (?:tu |el )?personaje\b"
           r"|\bno (?:rompas|salgas de) (?:el |tu )?personaje\b"
           r"|\b(?:reste|restez) dans (?:ton|votre|le) (?:personnage|rôle)\b"
           r"|\bne (?:sors|sortez) (?:pas|jamais) de (?:ton|votre|ce) (?:personnage|rôle)\b"
           r"|\b(?:bleib|bleibe|bleiben sie) in (?:der|deiner|ihrer) rolle\b"
           r"|\b(?:fall|falle|fallen sie) (?:nicht|niemals|nie) aus der rolle\b"
           r"|\b(?:resta|rimani) nel (?:personaggio|ruolo)\b"
           r"|\bnon uscire (?:mai )?dal personaggio\b"
           r"|\b(?:permaneça|fique|mantenha-se) no personagem\b|\bnão saia do personagem\b"
           r"|\bне выходи(?:те)? из роли\b|\bоставайся в роли\b"  # noqa: RUF001
           r"|保持(?:角色|人设|人設)|不要(?:脱离|跳出|脫離)(?:角色|人设|人設)"
           r"|キャラ(?:クター)?を(?:維持|保って|崩さない)|캐릭터를\s?유지"),
        0.35, wordset("personaje personnage rôle rolle personaggio ruolo personagem роли"),
        ("保持角色", "保持人设", "保持人設", "不要脱离", "不要跳出", "不要脫離", "キャラ",
         "캐릭터"),
    ),
    Detector(
        "compliance_demand",
        rx(r"\bnunca (?:te )?(?:niegues|rechaces|negarás|rechazarás|recuses|recusará|recusarás)\b"
           r"|\bne (?:refuse|refusez|refuses) jamais\b|\bne jamais refuser\b"
           r"|\b(?:lehne|lehnen sie) (?:niemals|nie) ab\b|\bverweigere (?:niemals|nie)\b"
           r"|\bnon (?:rifiutare|rifiutarti|rifiuti) mai\b"
           r"|\bникогда не отказывай(?:ся|те)?\b"  # noqa: RUF001
           r"|(?:永远不要|永遠不要|绝不|絕不)拒(?:绝|絕)|決して(?:拒否|断ら)|절대\s?거절하지"),
        0.35, wordset("nunca jamais niemals nie mai никогда"),
        ("拒绝", "拒絕", "決して", "거절"),
    ),
    Detector(
        # "Developer mode" in other languages: a phone setting too, so weak alone.
        "jailbreak_roleplay",
        rx(r"\bmodo (?:de )?(?:desarrollador|desenvolvedor|sviluppatore)\b"
           r"|\bmode (?:développeur|developpeur)\b|\bentwicklermodus\b"
           r"|\bmodalità sviluppatore\b|\bрежим разработчика\b"  # noqa: RUF001
           r"|开发者模式|開發者模式|開発者モード|개발자\s?모드"),
        0.3, wordset("desarrollador desenvolvedor sviluppatore développeur developpeur"
                     " entwicklermodus разработчика"),
        ("开发者模式", "開發者模式", "開発者モード", "개발자"),
    ),
)
