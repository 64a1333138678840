"""Natural-language strings: logged prompts, chat messages, support tickets.

Faker's lorem text is Latin for several locales, which reads as nothing a
user typed; these sentence banks are written for the corpus, a dozen per
language, and combined at random with Faker's own words where its locale
has real ones. ``{pii}`` marks where a sensitive value is woven in.
"""

from __future__ import annotations

from ._negatives import language
from ._values import Ctx

_SENTENCES = {
    "en": (
        "I can't find the export button since the last update.",
        "Could you check why my invoice shows the wrong amount this month?",
        "The dashboard takes forever to load on my laptop.",
        "We are planning to roll this out to the whole sales team next quarter.",
        "Please make the tone a bit more formal but keep it short.",
        "My order arrived damaged and I would like a replacement.",
        "The app logged me out twice while I was filling in the form.",
        "Thanks for the quick reply, that solved it for us.",
        "Explain the difference between these two pricing plans in simple terms.",
        "I need a summary of the meeting notes below for my manager.",
        "The search results don't show anything from last week.",
        "Can you help me write a polite reminder about the overdue payment?",
    ),
    "de": (
        "Ich finde den Export-Button seit dem letzten Update nicht mehr.",
        "Können Sie prüfen, warum meine Rechnung diesen Monat zu hoch ist?",
        "Das Dashboard lädt auf meinem Laptop sehr langsam.",
        "Bitte formuliere den Text etwas freundlicher und kürzer.",
        "Meine Bestellung kam beschädigt an, ich hätte gern Ersatz.",
        "Die App hat mich beim Ausfüllen des Formulars zweimal abgemeldet.",
        "Danke für die schnelle Antwort, damit ist das Problem gelöst.",
        "Fasse bitte die folgenden Notizen für meine Chefin zusammen.",
        "Erkläre mir den Unterschied zwischen den beiden Tarifen.",
        "Wir wollen das im nächsten Quartal im ganzen Vertrieb einführen.",
    ),
    "fr": (
        "Je ne trouve plus le bouton d'export depuis la dernière mise à jour.",
        "Pouvez-vous vérifier pourquoi ma facture est trop élevée ce mois-ci ?",
        "Le tableau de bord met beaucoup de temps à s'afficher.",
        "Merci de reformuler ce texte sur un ton plus poli.",
        "Ma commande est arrivée abîmée, je souhaite un remplacement.",
        "L'application m'a déconnecté deux fois pendant que je remplissais le "
        "formulaire.",
        "Merci pour la réponse rapide, le problème est résolu.",
        "Résume les notes de réunion ci-dessous pour mon responsable.",
        "Explique-moi simplement la différence entre les deux offres.",
        "Nous prévoyons de déployer l'outil dans toute l'équipe commerciale.",
    ),
    "pt": (
        "Não encontro mais o botão de exportar desde a última atualização.",
        "Vocês podem verificar por que minha fatura veio com valor errado?",
        "O painel demora muito para carregar no meu notebook.",
        "Por favor, deixe o texto mais educado e mais curto.",
        "Meu pedido chegou danificado e eu gostaria de uma troca.",
        "O aplicativo me desconectou duas vezes enquanto eu preenchia o formulário.",
        "Obrigado pela resposta rápida, resolveu o nosso problema.",
        "Resuma as anotações da reunião abaixo para o meu gerente.",
        "Explique de forma simples a diferença entre os dois planos.",
        "Queremos lançar isso para toda a equipe de vendas no próximo trimestre.",
    ),
    "ja": (
        "前回のアップデート以降、エクスポートボタンが見つかりません。",
        "今月の請求額が間違っている理由を確認していただけますか。",
        "ノートパソコンでダッシュボードの読み込みがとても遅いです。",
        "もう少し丁寧な言い方に直して、短くまとめてください。",
        "注文した商品が破損して届いたので交換をお願いします。",
        "フォームの入力中に二回もログアウトされました。",
        "早速のご返信ありがとうございます、おかげで解決しました。",
        "以下の議事録を上司向けに要約してください。",
        "二つの料金プランの違いを分かりやすく説明してください。",
        "来四半期に営業チーム全体へ展開する予定です。",
    ),
}

_WEAVE = {
    "en": (
        "You can reach me at {pii}.",
        "The customer's details are {pii}, please update them.",
        "Send the report to {pii} when it's ready.",
        "My details: {pii}",
    ),
    "de": (
        "Sie erreichen mich unter {pii}.",
        "Die Angaben des Kunden: {pii}, bitte aktualisieren.",
        "Schick den Bericht an {pii}, sobald er fertig ist.",
    ),
    "fr": (
        "Vous pouvez me joindre au {pii}.",
        "Voici les informations du client : {pii}.",
        "Envoie le rapport à {pii} quand il est prêt.",
    ),
    "pt": (
        "Pode falar comigo pelo {pii}.",
        "Os dados do cliente são {pii}, atualize por favor.",
        "Envie o relatório para {pii} quando estiver pronto.",
    ),
    "ja": (
        "連絡先は{pii}です。",
        "お客様の情報は{pii}です、更新をお願いします。",
        "完成したら{pii}に送ってください。",
    ),
}

_PROMPT_HEAD = {
    "en": (
        "Summarise the following for a busy reader:",
        "You are a helpful support agent.",
        "Rewrite this so it sounds friendlier:",
        "Translate into French:",
    ),
    "de": (
        "Fasse Folgendes kurz zusammen:",
        "Du bist ein hilfsbereiter Support-Agent.",
    ),
    "fr": ("Résume le texte suivant :", "Tu es un agent de support serviable."),
    "pt": ("Resuma o texto a seguir:", "Você é um agente de suporte prestativo."),
    "ja": ("次の文章を要約してください\uff1a", "あなたは親切なサポート担当者です。"),
}


def sentences(ctx: Ctx, count: int) -> str:
    bank = _SENTENCES[language(ctx.locale)]
    picked = ctx.rng.sample(bank, min(count, len(bank)))
    joiner = "" if ctx.japanese else " "
    return joiner.join(picked)


def message(ctx: Ctx, pii: str | None = None) -> str:
    """A chat message or ticket of two to four sentences, with ``pii`` in it."""
    text = sentences(ctx, ctx.rng.randint(2, 4))
    if pii is None:
        return text
    weave = ctx.rng.choice(_WEAVE[language(ctx.locale)]).format(pii=pii)
    joiner = "" if ctx.japanese else " "
    return joiner.join([text, weave] if ctx.rng.random() < 0.6 else [weave, text])


def prompt(ctx: Ctx, pii: str | None = None) -> str:
    """A logged LLM prompt: an instruction, then the user's material."""
    head = ctx.rng.choice(_PROMPT_HEAD[language(ctx.locale)])
    return head + ("" if ctx.japanese else " ") + message(ctx, pii)


def response(ctx: Ctx) -> str:
    """A model's answer as a product might log it."""
    return sentences(ctx, ctx.rng.randint(3, 5))
