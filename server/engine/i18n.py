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
    "followup_request": {
        "en": "None of the steps above solved the problem. What are the next most likely causes and steps?",
        "el": "Κανένα από τα παραπάνω βήματα δεν έλυσε το πρόβλημα. Ποιες είναι οι επόμενες πιο πιθανές αιτίες και τα βήματα;",
        "ar": "لم تحل أي من الخطوات أعلاه المشكلة. ما الأسباب والخطوات التالية الأكثر احتمالًا؟",
        "es": "Ninguno de los pasos anteriores resolvió el problema. ¿Cuáles son las siguientes causas y pasos más probables?",
        "tr": "Yukarıdaki adımların hiçbiri sorunu çözmedi. Sıradaki en olası nedenler ve adımlar nelerdir?",
        "no": "Ingen av trinnene over løste problemet. Hva er de neste mest sannsynlige årsakene og trinnene?",
    },
    "alternative_or_human": {
        "en": "If you cannot do this step, here is another way; or I can connect you with a support technician.",
        "el": "Αν δεν μπορείτε να κάνετε αυτό το βήμα, ορίστε ένας άλλος τρόπος· ή μπορώ να σας συνδέσω με έναν τεχνικό υποστήριξης.",
        "ar": "إذا لم تستطع تنفيذ هذه الخطوة، فإليك طريقة أخرى؛ أو يمكنني توصيلك بفني دعم.",
        "es": "Si no puede hacer este paso, aquí tiene otra forma; o puedo ponerle en contacto con un técnico de soporte.",
        "tr": "Bu adımı yapamıyorsanız işte başka bir yol; ya da sizi bir destek teknisyenine bağlayabilirim.",
        "no": "Hvis du ikke kan gjøre dette trinnet, er her en annen måte; eller jeg kan sette deg i kontakt med en servicetekniker.",
    },
    "injection_removed": {
        "en": "[instruction-like text removed]", "el": "[αφαιρέθηκε κείμενο που μοιάζει με εντολή]",
        "ar": "[تمت إزالة نص يشبه التعليمات]", "es": "[texto con apariencia de instrucción eliminado]",
        "tr": "[talimat benzeri metin kaldırıldı]", "no": "[tekst som ligner instruksjoner fjernet]",
    },
    "support_joined": {
        "en": "{agent} from support has joined the conversation.",
        "el": "Ο/Η {agent} από την υποστήριξη συμμετέχει πλέον στη συνομιλία.",
        "ar": "انضم {agent} من فريق الدعم إلى المحادثة.",
        "es": "{agent}, del equipo de soporte, se ha unido a la conversación.",
        "tr": "Destek ekibinden {agent} sohbete katıldı.",
        "no": "{agent} fra support har blitt med i samtalen.",
    },
    "support_released": {
        "en": "{agent} has handed the conversation back to the assistant.",
        "el": "Ο/Η {agent} επέστρεψε τη συνομιλία στον βοηθό.",
        "ar": "أعاد {agent} المحادثة إلى المساعد.",
        "es": "{agent} ha devuelto la conversación al asistente.",
        "tr": "{agent} sohbeti asistana geri devretti.",
        "no": "{agent} har gitt samtalen tilbake til assistenten.",
    },
    "support_closed": {
        "en": "{agent} has closed this conversation. You can start a new one at any time.",
        "el": "Ο/Η {agent} έκλεισε αυτή τη συνομιλία. Μπορείτε να ξεκινήσετε νέα οποιαδήποτε στιγμή.",
        "ar": "أغلق {agent} هذه المحادثة. يمكنك بدء محادثة جديدة في أي وقت.",
        "es": "{agent} ha cerrado esta conversación. Puede iniciar una nueva en cualquier momento.",
        "tr": "{agent} bu sohbeti kapattı. İstediğiniz zaman yeni bir sohbet başlatabilirsiniz.",
        "no": "{agent} har lukket denne samtalen. Du kan starte en ny når som helst.",
    },
    "support_unclaimed": {
        "en": "No support technician is free yet for ticket {ticket}. You can reach support at {email} or {phone}; meanwhile the assistant keeps helping you here.",
        "el": "Κανένας τεχνικός υποστήριξης δεν είναι ακόμη διαθέσιμος για το αίτημα {ticket}. Μπορείτε να επικοινωνήσετε στο {email} ή στο {phone}· στο μεταξύ ο βοηθός συνεχίζει να σας βοηθά εδώ.",
        "ar": "لا يوجد فني دعم متاح بعد للتذكرة {ticket}. يمكنك التواصل مع الدعم عبر {email} أو {phone}؛ وفي الأثناء يواصل المساعد مساعدتك هنا.",
        "es": "Todavía no hay ningún técnico de soporte libre para el ticket {ticket}. Puede contactar con soporte en {email} o {phone}; mientras tanto, el asistente sigue ayudándole aquí.",
        "tr": "{ticket} numaralı talep için henüz boşta destek teknisyeni yok. Desteğe {email} veya {phone} üzerinden ulaşabilirsiniz; bu arada asistan burada size yardım etmeye devam ediyor.",
        "no": "Ingen servicetekniker er ledig ennå for sak {ticket}. Du når support på {email} eller {phone}; i mellomtiden hjelper assistenten deg videre her.",
    },
    "manuals_only_notice": {
        "en": "No AI model is configured for this assistant, so this answer comes straight from the manuals:",
        "el": "Δεν έχει ρυθμιστεί μοντέλο τεχνητής νοημοσύνης για αυτόν τον βοηθό, οπότε η απάντηση προέρχεται απευθείας από τα εγχειρίδια:",
        "ar": "لم يتم إعداد نموذج ذكاء اصطناعي لهذا المساعد، لذا تأتي هذه الإجابة مباشرة من الأدلة:",
        "es": "Este asistente no tiene configurado ningún modelo de IA, así que esta respuesta procede directamente de los manuales:",
        "tr": "Bu asistan için yapılandırılmış bir yapay zekâ modeli yok; bu yanıt doğrudan kılavuzlardan geliyor:",
        "no": "Ingen KI-modell er satt opp for denne assistenten, så dette svaret kommer rett fra håndbøkene:",
    },
    "kb_indexing": {
        "en": "The manuals are still being indexed ({ready} of {total} ready), so I cannot answer from them yet. Please ask again in a minute.",
        "el": "Τα εγχειρίδια καταχωρίζονται ακόμη ({ready} από {total} έτοιμα), οπότε δεν μπορώ ακόμη να απαντήσω από αυτά. Ρωτήστε ξανά σε ένα λεπτό.",
        "ar": "لا تزال فهرسة الأدلة جارية ({ready} من {total} جاهزة)، لذلك لا يمكنني الإجابة منها بعد. يرجى السؤال مرة أخرى بعد دقيقة.",
        "es": "Los manuales todavía se están indexando ({ready} de {total} listos), así que aún no puedo responder a partir de ellos. Vuelva a preguntar en un minuto.",
        "tr": "Kılavuzlar hâlâ dizine ekleniyor ({total} kılavuzdan {ready} tanesi hazır), bu yüzden henüz onlara dayanarak yanıt veremiyorum. Lütfen bir dakika sonra tekrar sorun.",
        "no": "Håndbøkene indekseres fortsatt ({ready} av {total} klare), så jeg kan ikke svare ut fra dem ennå. Spør gjerne igjen om et minutt.",
    },
    "session_closed": {
        "en": "This conversation is closed. Start a new conversation to ask again.",
        "el": "Αυτή η συνομιλία έχει κλείσει. Ξεκινήστε νέα συνομιλία για να ρωτήσετε ξανά.",
        "ar": "هذه المحادثة مغلقة. ابدأ محادثة جديدة لتسأل مرة أخرى.",
        "es": "Esta conversación está cerrada. Inicie una conversación nueva para volver a preguntar.",
        "tr": "Bu sohbet kapatıldı. Tekrar sormak için yeni bir sohbet başlatın.",
        "no": "Denne samtalen er lukket. Start en ny samtale for å spørre igjen.",
    },
    "support_typing": {
        "en": "{agent} is typing…",
        "el": "Ο/Η {agent} πληκτρολογεί…",
        "ar": "{agent} يكتب…",
        "es": "{agent} está escribiendo…",
        "tr": "{agent} yazıyor…",
        "no": "{agent} skriver …",
    },
    "assessment": {
        "en": "**Assessment:** the manuals point first to “{what}” ({source}).",
        "el": "**Εκτίμηση:** τα εγχειρίδια παραπέμπουν πρώτα σε «{what}» ({source}).",
        "ar": "**التقييم:** تشير الأدلة أولًا إلى «{what}» ({source}).",
        "es": "**Valoración:** los manuales apuntan primero a «{what}» ({source}).",
        "tr": "**Değerlendirme:** kılavuzlar önce şuna işaret ediyor: “{what}” ({source}).",
        "no": "**Vurdering:** håndbøkene peker først på «{what}» ({source}).",
    },
    "causes_first": {
        "en": "Most likely causes first; after each step, tell me whether it helped.",
        "el": "Πρώτα οι πιο πιθανές αιτίες· μετά από κάθε βήμα πείτε μου αν βοήθησε.",
        "ar": "الأسباب الأكثر احتمالًا أولًا؛ بعد كل خطوة أخبرني هل ساعدت.",
        "es": "Primero las causas más probables; después de cada paso, dígame si ha ayudado.",
        "tr": "Önce en olası nedenler; her adımdan sonra işe yarayıp yaramadığını söyleyin.",
        "no": "De mest sannsynlige årsakene først; si fra etter hvert trinn om det hjalp.",
    },
    "passages_in": {
        "en": "The passages below are in {language}: no manual in English covers this.",
        "el": "Τα παρακάτω αποσπάσματα είναι στα {language}: κανένα εγχειρίδιο στα ελληνικά δεν καλύπτει αυτό το θέμα.",
        "ar": "المقاطع أدناه باللغة {language}: لا يوجد دليل باللغة العربية يغطي هذا الموضوع.",
        "es": "Los pasajes siguientes están en {language}: ningún manual en español trata este tema.",
        "tr": "Aşağıdaki bölümler {language} yazılmış: bu konuyu Türkçe bir kılavuz kapsamıyor.",
        "no": "Avsnittene nedenfor er på {language}: ingen håndbok på norsk dekker dette.",
    },
    "maintenance_item": {
        "en": "{hours} h service: {task}", "el": "Σέρβις {hours} ωρών: {task}", "ar": "صيانة {hours} ساعة: {task}",
        "es": "Servicio de {hours} h: {task}", "tr": "{hours} saatlik bakım: {task}", "no": "{hours} t-service: {task}",
    },
    "overdue_by": {
        "en": "overdue by {hours} h", "el": "καθυστέρηση {hours} ωρών", "ar": "متأخرة {hours} ساعة",
        "es": "con {hours} h de retraso", "tr": "{hours} saat gecikmiş", "no": "forfalt for {hours} t siden",
    },
    "due_in": {
        "en": "due in {hours} h", "el": "σε {hours} ώρες", "ar": "بعد {hours} ساعة",
        "es": "dentro de {hours} h", "tr": "{hours} saat içinde", "no": "om {hours} t",
    },
    "source": {"en": "Source", "el": "Πηγή", "ar": "المصدر", "es": "Fuente", "tr": "Kaynak", "no": "Kilde"},
    "page": {"en": "page", "el": "σελίδα", "ar": "صفحة", "es": "página", "tr": "sayfa", "no": "side"},
}


# The six languages named in each of them ("the passages below are in English"), as the sentence needs them
LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "en": {"en": "English", "el": "Greek", "ar": "Arabic", "es": "Spanish", "tr": "Turkish", "no": "Norwegian"},
    "el": {"en": "αγγλικά", "el": "ελληνικά", "ar": "αραβικά", "es": "ισπανικά", "tr": "τουρκικά", "no": "νορβηγικά"},
    "ar": {"en": "الإنجليزية", "el": "اليونانية", "ar": "العربية", "es": "الإسبانية", "tr": "التركية", "no": "النرويجية"},
    "es": {"en": "inglés", "el": "griego", "ar": "árabe", "es": "español", "tr": "turco", "no": "noruego"},
    "tr": {"en": "İngilizce", "el": "Yunanca", "ar": "Arapça", "es": "İspanyolca", "tr": "Türkçe", "no": "Norveççe"},
    "no": {"en": "engelsk", "el": "gresk", "ar": "arabisk", "es": "spansk", "tr": "tyrkisk", "no": "norsk"},
}


def language_name(code: str, lang: str) -> str:
    """The name of language ``code`` in language ``lang`` (English names when ``lang`` is unknown)."""
    names = LANGUAGE_NAMES.get(lang) or LANGUAGE_NAMES["en"]
    return names.get(code, code)


def t(key: str, lang: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (English when the language is unknown)."""
    table = MESSAGES[key]
    text = table.get(lang) or table["en"]
    return text.format(**values) if values else text
