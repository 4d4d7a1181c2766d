"""Every string the server itself says to users, in the six languages."""

from __future__ import annotations

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
    "safety_notice": {
        "en": "⚠️ **Safety first:** stop the machine with the emergency stop, disconnect the power if it is safe to do so, keep people away and do not touch the equipment. I am alerting a support technician now.",
        "el": "⚠️ **Πρώτα η ασφάλεια:** σταματήστε το μηχάνημα με το κουμπί έκτακτης ανάγκης, αποσυνδέστε το ρεύμα αν είναι ασφαλές, κρατήστε τους ανθρώπους μακριά και μην αγγίζετε τον εξοπλισμό. Ειδοποιώ τώρα έναν τεχνικό υποστήριξης.",
        "ar": "⚠️ **السلامة أولًا:** أوقف الآلة بزر الإيقاف الطارئ، وافصل التيار الكهربائي إذا كان ذلك آمنًا، وأبعد الأشخاص ولا تلمس المعدات. أقوم الآن بتنبيه فني الدعم.",
        "es": "⚠️ **La seguridad es lo primero:** detenga la máquina con la parada de emergencia, desconecte la alimentación si es seguro hacerlo, mantenga a las personas alejadas y no toque el equipo. Estoy avisando ahora a un técnico de soporte.",
        "tr": "⚠️ **Önce güvenlik:** makineyi acil durdurma ile durdurun, güvenliyse elektriği kesin, insanları uzak tutun ve ekipmana dokunmayın. Şimdi bir destek teknisyenine haber veriyorum.",
        "no": "⚠️ **Sikkerhet først:** stopp maskinen med nødstoppen, koble fra strømmen hvis det er trygt, hold folk unna og ikke rør utstyret. Jeg varsler en servicetekniker nå.",
    },
    "maintenance_due": {
        "en": "Preventive maintenance is due on this machine: {items}.",
        "el": "Οφείλεται προληπτική συντήρηση σε αυτό το μηχάνημα: {items}.",
        "ar": "حان موعد الصيانة الوقائية لهذه الآلة: {items}.",
        "es": "Esta máquina tiene pendiente un mantenimiento preventivo: {items}.",
        "tr": "Bu makinenin önleyici bakım zamanı geldi: {items}.",
        "no": "Denne maskinen skal ha forebyggende vedlikehold: {items}.",
    },
    "steps_exhausted": {
        "en": "Those steps did not solve it. Here is what to check next:",
        "el": "Αυτά τα βήματα δεν έλυσαν το πρόβλημα. Ελέγξτε στη συνέχεια τα εξής:",
        "ar": "لم تحل هذه الخطوات المشكلة. إليك ما يجب التحقق منه بعد ذلك:",
        "es": "Esos pasos no lo resolvieron. Esto es lo siguiente que debe comprobar:",
        "tr": "Bu adımlar sorunu çözmedi. Sırada kontrol edilecekler:",
        "no": "Disse trinnene løste det ikke. Dette bør du sjekke videre:",
    },
    "injection_removed": {
        "en": "[instruction-like text removed]", "el": "[αφαιρέθηκε κείμενο που μοιάζει με εντολή]",
        "ar": "[تمت إزالة نص يشبه التعليمات]", "es": "[texto con apariencia de instrucción eliminado]",
        "tr": "[talimat benzeri metin kaldırıldı]", "no": "[tekst som ligner instruksjoner fjernet]",
    },
    "source": {"en": "Source", "el": "Πηγή", "ar": "المصدر", "es": "Fuente", "tr": "Kaynak", "no": "Kilde"},
    "page": {"en": "page", "el": "σελίδα", "ar": "صفحة", "es": "página", "tr": "sayfa", "no": "side"},
}


def t(key: str, lang: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (English when the language is unknown)."""
    table = MESSAGES[key]
    text = table.get(lang) or table["en"]
    return text.format(**values) if values else text
