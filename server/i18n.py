"""Every string the server itself says to users, in the six languages."""

from __future__ import annotations

LANGUAGES = ("en", "el", "ar", "es", "tr", "no")

MESSAGES: dict[str, dict[str, str]] = {
    "retrieval_only_notice": {
        "en": "The AI assistant is not available right now, so here are the most relevant passages from the manuals:",
        "el": "Ο βοηθός τεχνητής νοημοσύνης δεν είναι διαθέσιμος αυτή τη στιγμή. Ακολουθούν τα πιο σχετικά αποσπάσματα από τα εγχειρίδια:",
        "ar": "المساعد الذكي غير متاح حاليًا، لذا إليك أكثر المقاطع صلة من الأدلة:",
        "es": "El asistente de IA no está disponible en este momento; estos son los pasajes más relevantes de los manuales:",
        "tr": "Yapay zekâ asistanı şu anda kullanılamıyor; kılavuzlardaki en ilgili bölümler şunlardır:",
        "no": "AI-assistenten er ikke tilgjengelig akkurat nå, så her er de mest relevante avsnittene fra håndbøkene:",
    },
    "no_manuals": {
        "en": "No manuals are indexed yet, so I cannot answer from the documentation. You can ask for a human expert.",
        "el": "Δεν έχουν καταχωριστεί ακόμη εγχειρίδια, οπότε δεν μπορώ να απαντήσω από την τεκμηρίωση. Μπορείτε να ζητήσετε έναν ειδικό.",
        "ar": "لم تتم فهرسة أي أدلة بعد، لذلك لا يمكنني الإجابة من الوثائق. يمكنك طلب خبير بشري.",
        "es": "Todavía no hay manuales indexados, así que no puedo responder a partir de la documentación. Puede pedir un experto humano.",
        "tr": "Henüz dizine eklenmiş kılavuz yok, bu yüzden belgelere dayanarak yanıt veremiyorum. Bir uzmandan destek isteyebilirsiniz.",
        "no": "Ingen håndbøker er indeksert ennå, så jeg kan ikke svare ut fra dokumentasjonen. Du kan be om en ekspert.",
    },
    "not_covered": {
        "en": "The manuals do not cover this question, and I will not guess. Would you like me to connect you with a support technician?",
        "el": "Τα εγχειρίδια δεν καλύπτουν αυτή την ερώτηση και δεν θα κάνω εικασίες. Θέλετε να σας συνδέσω με έναν τεχνικό υποστήριξης;",
        "ar": "لا تغطي الأدلة هذا السؤال، ولن أخمّن. هل تريد أن أوصلك بفني دعم؟",
        "es": "Los manuales no cubren esta pregunta y no voy a suponer. ¿Quiere que le ponga en contacto con un técnico de soporte?",
        "tr": "Kılavuzlar bu soruyu kapsamıyor ve tahmin yürütmeyeceğim. Sizi bir destek teknisyenine bağlamamı ister misiniz?",
        "no": "Håndbøkene dekker ikke dette spørsmålet, og jeg vil ikke gjette. Vil du at jeg setter deg i kontakt med en servicetekniker?",
    },
    "llm_interrupted": {
        "en": "The answer was interrupted. The part above may be incomplete; please ask again.",
        "el": "Η απάντηση διακόπηκε. Το παραπάνω τμήμα μπορεί να είναι ελλιπές· ρωτήστε ξανά.",
        "ar": "انقطعت الإجابة. قد يكون الجزء أعلاه غير مكتمل؛ يرجى السؤال مرة أخرى.",
        "es": "La respuesta se interrumpió. La parte anterior puede estar incompleta; vuelva a preguntar.",
        "tr": "Yanıt kesildi. Yukarıdaki kısım eksik olabilir; lütfen tekrar sorun.",
        "no": "Svaret ble avbrutt. Delen over kan være ufullstendig; spør gjerne igjen.",
    },
    "rate_limited": {
        "en": "You are sending messages too quickly. Please wait a moment.",
        "el": "Στέλνετε μηνύματα πολύ γρήγορα. Περιμένετε λίγο.",
        "ar": "أنت ترسل الرسائل بسرعة كبيرة. يرجى الانتظار قليلًا.",
        "es": "Está enviando mensajes demasiado rápido. Espere un momento.",
        "tr": "Çok hızlı mesaj gönderiyorsunuz. Lütfen biraz bekleyin.",
        "no": "Du sender meldinger for raskt. Vent litt.",
    },
    "busy_turn": {
        "en": "Please wait until the current answer is finished, or cancel it.",
        "el": "Περιμένετε να ολοκληρωθεί η τρέχουσα απάντηση ή ακυρώστε την.",
        "ar": "يرجى الانتظار حتى تكتمل الإجابة الحالية، أو ألغِها.",
        "es": "Espere a que termine la respuesta actual o cancélela.",
        "tr": "Lütfen mevcut yanıt bitene kadar bekleyin veya iptal edin.",
        "no": "Vent til det nåværende svaret er ferdig, eller avbryt det.",
    },
    "internal_error": {
        "en": "Something went wrong on our side. Your message is saved; please try again.",
        "el": "Κάτι πήγε στραβά από την πλευρά μας. Το μήνυμά σας αποθηκεύτηκε· δοκιμάστε ξανά.",
        "ar": "حدث خطأ من جانبنا. تم حفظ رسالتك؛ يرجى المحاولة مرة أخرى.",
        "es": "Algo salió mal por nuestra parte. Su mensaje se ha guardado; inténtelo de nuevo.",
        "tr": "Bizim tarafımızda bir sorun oluştu. Mesajınız kaydedildi; lütfen tekrar deneyin.",
        "no": "Noe gikk galt hos oss. Meldingen din er lagret; prøv igjen.",
    },
    "source": {"en": "Source", "el": "Πηγή", "ar": "المصدر", "es": "Fuente", "tr": "Kaynak", "no": "Kilde"},
    "page": {"en": "page", "el": "σελίδα", "ar": "صفحة", "es": "página", "tr": "sayfa", "no": "side"},
}


def t(key: str, lang: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (English when the language is unknown)."""
    table = MESSAGES[key]
    text = table.get(lang) or table["en"]
    return text.format(**values) if values else text
