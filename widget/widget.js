/*! ABParts Assistant chat widget. One file, no dependencies, no build step.
 * Embed: <script src="https://HOST/ai/widget.js" data-token-url="/api/assistant-token" data-lang="en"
 *                 data-color="#0b5cad" data-theme="light"></script>
 * or:    window.ABPartsAssistant.init({getToken, language, machineId, machines, baseUrl, color, theme})
 * Text from the model, the manuals and the network is only ever inserted with textContent. */
(function () {
  'use strict';
  if (window.ABPartsAssistant && window.ABPartsAssistant.version) return; // loaded twice: keep the first

  var VERSION = '1.0.0';
  var SCRIPT = document.currentScript;
  var LANGS = ['en', 'el', 'ar', 'es', 'tr', 'no'];
  var LANG_NAMES = { en: 'English', el: 'Ελληνικά', ar: 'العربية', es: 'Español', tr: 'Türkçe', no: 'Norsk' };
  var SPEECH = { en: 'en-GB', el: 'el-GR', ar: 'ar-SA', es: 'es-ES', tr: 'tr-TR', no: 'nb-NO' };

  // Every UI string, in the six languages. {n}, {s}, {name} are placeholders.
  var I18N = {
    en: {
      title: 'ABParts Assistant', open: 'Open the ABParts Assistant', close: 'Close', min: 'Minimise', max: 'Maximise',
      restore: 'Restore', online: 'Online', off: 'Offline', connecting: 'Connecting…', reconnecting: 'Reconnecting…',
      offline: 'You are offline. Your messages will be sent when the connection is back.',
      lost: 'Connection lost. Reconnecting…', placeholder: 'Describe the problem…', send: 'Send', stop: 'Stop',
      mic: 'Record a voice message', micStop: 'Stop recording', recording: 'Recording… press the microphone again to stop.',
      transcribing: 'Transcribing…', checkTranscript: 'Check the text, edit it if needed, then send.',
      micError: 'The microphone is not available.', readAloud: 'Read aloud', stopReading: 'Stop reading',
      up: 'Helpful', down: 'Not helpful', thanks: 'Thank you for your feedback.', human: 'Talk to a human',
      solved: 'Problem solved', solvedNote: 'Marked as solved. Thank you!', newChat: 'New conversation',
      escalated: 'Support ticket {n} has been created. Our support team will contact you.', email: 'E-mail',
      phone: 'Phone', agent: 'Support', thinking: 'The assistant is thinking…', eta: 'The answer starts in about {s} s.',
      step: 'Step {n}', stepOf: 'Step {n} of {total}', help: 'Did that help?', offer: 'Would you like to talk to a support technician?', fixed: 'Fixed', notFixed: 'Not fixed', cannot: "I can't do this", sources: 'Sources',
      page: 'p. {n}', machine: 'Machine', pickMachine: 'Which machine are you working on?', general: 'General question',
      language: 'Language', welcome: 'Hello, {name}! Describe the problem and I will guide you step by step.',
      welcome0: 'Hello! Describe the problem and I will guide you step by step.',
      retrieval: 'The AI model is not available right now, so this answer is taken directly from the manuals.',
      cancelled: 'Answer stopped.', failed: 'The answer could not be completed. Please try again.',
      pending: 'Waiting to send…', notSent: 'Not sent', you: 'You', assistant: 'Assistant', log: 'Conversation',
      error: 'Something went wrong. Please try again.', auth: 'Could not sign in to the assistant. Please reload the page.',
      consentAgree: 'I agree', consentDecline: 'No thanks', consentDeclined: 'Nothing is stored without your agreement, so the assistant cannot be used. You can change your mind:'
    },
    el: {
      title: 'Βοηθός ABParts', open: 'Άνοιγμα του Βοηθού ABParts', close: 'Κλείσιμο', min: 'Ελαχιστοποίηση',
      max: 'Μεγιστοποίηση', restore: 'Επαναφορά', online: 'Συνδεδεμένο', off: 'Εκτός σύνδεσης', connecting: 'Σύνδεση…', reconnecting: 'Επανασύνδεση…',
      offline: 'Είστε εκτός σύνδεσης. Τα μηνύματά σας θα σταλούν μόλις επανέλθει η σύνδεση.',
      lost: 'Η σύνδεση χάθηκε. Επανασύνδεση…', placeholder: 'Περιγράψτε το πρόβλημα…', send: 'Αποστολή', stop: 'Διακοπή',
      mic: 'Ηχογράφηση φωνητικού μηνύματος', micStop: 'Τέλος ηχογράφησης',
      recording: 'Ηχογράφηση… πατήστε ξανά το μικρόφωνο για να σταματήσει.', transcribing: 'Μεταγραφή…',
      checkTranscript: 'Ελέγξτε το κείμενο, διορθώστε το αν χρειάζεται και στείλτε το.',
      micError: 'Το μικρόφωνο δεν είναι διαθέσιμο.', readAloud: 'Ανάγνωση φωναχτά', stopReading: 'Διακοπή ανάγνωσης',
      up: 'Χρήσιμο', down: 'Όχι χρήσιμο', thanks: 'Ευχαριστούμε για τα σχόλιά σας.', human: 'Μιλήστε με άνθρωπο',
      solved: 'Το πρόβλημα λύθηκε', solvedNote: 'Σημειώθηκε ως επιλυμένο. Ευχαριστούμε!', newChat: 'Νέα συνομιλία',
      escalated: 'Δημιουργήθηκε το αίτημα υποστήριξης {n}. Η ομάδα υποστήριξης θα επικοινωνήσει μαζί σας.',
      email: 'Ηλ. ταχυδρομείο', phone: 'Τηλέφωνο', agent: 'Υποστήριξη', thinking: 'Ο βοηθός σκέφτεται…',
      eta: 'Η απάντηση ξεκινά σε περίπου {s} δευτ.', step: 'Βήμα {n}', stepOf: 'Βήμα {n} από {total}', help: 'Βοήθησε αυτό;', offer: 'Θέλετε να μιλήσετε με έναν τεχνικό υποστήριξης;', fixed: 'Διορθώθηκε', notFixed: 'Δεν διορθώθηκε',
      cannot: 'Δεν μπορώ να το κάνω', sources: 'Πηγές', page: 'σελ. {n}', machine: 'Μηχάνημα',
      pickMachine: 'Σε ποιο μηχάνημα εργάζεστε;', general: 'Γενική ερώτηση', language: 'Γλώσσα',
      welcome: 'Γεια σας, {name}! Περιγράψτε το πρόβλημα και θα σας καθοδηγήσω βήμα προς βήμα.',
      welcome0: 'Γεια σας! Περιγράψτε το πρόβλημα και θα σας καθοδηγήσω βήμα προς βήμα.',
      retrieval: 'Το μοντέλο τεχνητής νοημοσύνης δεν είναι διαθέσιμο αυτή τη στιγμή, οπότε η απάντηση προέρχεται απευθείας από τα εγχειρίδια.',
      cancelled: 'Η απάντηση διακόπηκε.', failed: 'Η απάντηση δεν ολοκληρώθηκε. Δοκιμάστε ξανά.',
      pending: 'Αναμονή για αποστολή…', notSent: 'Δεν στάλθηκε', you: 'Εσείς', assistant: 'Βοηθός', log: 'Συνομιλία',
      error: 'Κάτι πήγε στραβά. Δοκιμάστε ξανά.', auth: 'Η σύνδεση στον βοηθό απέτυχε. Ανανεώστε τη σελίδα.',
      consentAgree: 'Συμφωνώ', consentDecline: 'Όχι, ευχαριστώ', consentDeclined: 'Χωρίς τη συγκατάθεσή σας δεν αποθηκεύεται τίποτα, οπότε ο βοηθός δεν μπορεί να χρησιμοποιηθεί. Μπορείτε να αλλάξετε γνώμη:'
    },
    ar: {
      title: 'مساعد ABParts', open: 'فتح مساعد ABParts', close: 'إغلاق', min: 'تصغير', max: 'تكبير',
      restore: 'استعادة الحجم', online: 'متصل', off: 'غير متصل', connecting: 'جارٍ الاتصال…', reconnecting: 'جارٍ إعادة الاتصال…',
      offline: 'أنت غير متصل بالإنترنت. سيتم إرسال رسائلك عند عودة الاتصال.',
      lost: 'انقطع الاتصال. جارٍ إعادة الاتصال…', placeholder: 'صِف المشكلة…', send: 'إرسال', stop: 'إيقاف',
      mic: 'تسجيل رسالة صوتية', micStop: 'إيقاف التسجيل', recording: 'جارٍ التسجيل… اضغط على الميكروفون مرة أخرى للإيقاف.',
      transcribing: 'جارٍ تحويل الصوت إلى نص…', checkTranscript: 'راجع النص وعدّله إذا لزم الأمر، ثم أرسله.',
      micError: 'الميكروفون غير متاح.', readAloud: 'قراءة بصوت عالٍ', stopReading: 'إيقاف القراءة',
      up: 'مفيد', down: 'غير مفيد', thanks: 'شكرًا على ملاحظاتك.', human: 'التحدث مع موظف الدعم',
      solved: 'تم حل المشكلة', solvedNote: 'تم تحديد المشكلة على أنها محلولة. شكرًا لك!', newChat: 'محادثة جديدة',
      escalated: 'تم إنشاء تذكرة الدعم {n}. سيتواصل معك فريق الدعم.', email: 'البريد الإلكتروني', phone: 'الهاتف',
      agent: 'الدعم', thinking: 'المساعد يفكر…', eta: 'ستبدأ الإجابة خلال {s} ثانية تقريبًا.', step: 'الخطوة {n}', stepOf: 'الخطوة {n} من {total}', help: 'هل ساعد ذلك؟', offer: 'هل تريد التحدث مع فني الدعم؟',
      fixed: 'تم الإصلاح', notFixed: 'لم يتم الإصلاح', cannot: 'لا أستطيع القيام بذلك', sources: 'المصادر',
      page: 'ص. {n}', machine: 'الآلة', pickMachine: 'على أي آلة تعمل؟', general: 'سؤال عام', language: 'اللغة',
      welcome: 'مرحبًا {name}! صِف المشكلة وسأرشدك خطوة بخطوة.', welcome0: 'مرحبًا! صِف المشكلة وسأرشدك خطوة بخطوة.',
      retrieval: 'نموذج الذكاء الاصطناعي غير متاح حاليًا، لذا هذه الإجابة مأخوذة مباشرة من الأدلة.',
      cancelled: 'تم إيقاف الإجابة.', failed: 'تعذّر إكمال الإجابة. يرجى المحاولة مرة أخرى.',
      pending: 'في انتظار الإرسال…', notSent: 'لم يتم الإرسال', you: 'أنت', assistant: 'المساعد', log: 'المحادثة',
      error: 'حدث خطأ ما. يرجى المحاولة مرة أخرى.', auth: 'تعذّر تسجيل الدخول إلى المساعد. يرجى إعادة تحميل الصفحة.',
      consentAgree: 'أوافق', consentDecline: 'لا، شكرًا', consentDeclined: 'لا يُحفظ أي شيء دون موافقتك، لذا لا يمكن استخدام المساعد. يمكنك تغيير رأيك:'
    },
    es: {
      title: 'Asistente ABParts', open: 'Abrir el Asistente ABParts', close: 'Cerrar', min: 'Minimizar', max: 'Maximizar',
      restore: 'Restaurar', online: 'En línea', off: 'Sin conexión', connecting: 'Conectando…', reconnecting: 'Reconectando…',
      offline: 'Sin conexión. Sus mensajes se enviarán cuando vuelva la conexión.',
      lost: 'Se perdió la conexión. Reconectando…', placeholder: 'Describa el problema…', send: 'Enviar', stop: 'Detener',
      mic: 'Grabar un mensaje de voz', micStop: 'Detener la grabación', recording: 'Grabando… pulse de nuevo el micrófono para detener.',
      transcribing: 'Transcribiendo…', checkTranscript: 'Revise el texto, corríjalo si es necesario y envíelo.',
      micError: 'El micrófono no está disponible.', readAloud: 'Leer en voz alta', stopReading: 'Dejar de leer',
      up: 'Útil', down: 'No es útil', thanks: 'Gracias por su opinión.', human: 'Hablar con una persona',
      solved: 'Problema resuelto', solvedNote: 'Marcado como resuelto. ¡Gracias!', newChat: 'Nueva conversación',
      escalated: 'Se ha creado el ticket de soporte {n}. Nuestro equipo de soporte se pondrá en contacto con usted.',
      email: 'Correo electrónico', phone: 'Teléfono', agent: 'Soporte', thinking: 'El asistente está pensando…',
      eta: 'La respuesta empezará en unos {s} s.', step: 'Paso {n}', stepOf: 'Paso {n} de {total}', help: '¿Le ha servido?', offer: '¿Quiere hablar con un técnico de soporte?', fixed: 'Solucionado', notFixed: 'No solucionado',
      cannot: 'No puedo hacerlo', sources: 'Fuentes', page: 'pág. {n}', machine: 'Máquina',
      pickMachine: '¿En qué máquina está trabajando?', general: 'Pregunta general', language: 'Idioma',
      welcome: '¡Hola, {name}! Describa el problema y le guiaré paso a paso.',
      welcome0: '¡Hola! Describa el problema y le guiaré paso a paso.',
      retrieval: 'El modelo de IA no está disponible en este momento, por lo que esta respuesta se toma directamente de los manuales.',
      cancelled: 'Respuesta detenida.', failed: 'No se pudo completar la respuesta. Inténtelo de nuevo.',
      pending: 'Pendiente de envío…', notSent: 'No enviado', you: 'Usted', assistant: 'Asistente', log: 'Conversación',
      error: 'Algo salió mal. Inténtelo de nuevo.', auth: 'No se pudo iniciar sesión en el asistente. Recargue la página.',
      consentAgree: 'Acepto', consentDecline: 'No, gracias', consentDeclined: 'Sin su consentimiento no se guarda nada, así que el asistente no puede usarse. Puede cambiar de opinión:'
    },
    tr: {
      title: 'ABParts Asistanı', open: 'ABParts Asistanını aç', close: 'Kapat', min: 'Küçült', max: 'Büyüt',
      restore: 'Eski boyutuna getir', online: 'Çevrimiçi', off: 'Çevrimdışı', connecting: 'Bağlanıyor…', reconnecting: 'Yeniden bağlanıyor…',
      offline: 'Çevrimdışısınız. Mesajlarınız bağlantı geri geldiğinde gönderilecek.',
      lost: 'Bağlantı koptu. Yeniden bağlanıyor…', placeholder: 'Sorunu açıklayın…', send: 'Gönder', stop: 'Durdur',
      mic: 'Sesli mesaj kaydet', micStop: 'Kaydı durdur', recording: 'Kaydediliyor… durdurmak için mikrofona tekrar basın.',
      transcribing: 'Metne dönüştürülüyor…', checkTranscript: 'Metni kontrol edin, gerekirse düzeltin ve gönderin.',
      micError: 'Mikrofon kullanılamıyor.', readAloud: 'Sesli oku', stopReading: 'Okumayı durdur',
      up: 'Faydalı', down: 'Faydalı değil', thanks: 'Geri bildiriminiz için teşekkürler.', human: 'Bir temsilciyle görüş',
      solved: 'Sorun çözüldü', solvedNote: 'Çözüldü olarak işaretlendi. Teşekkürler!', newChat: 'Yeni sohbet',
      escalated: '{n} numaralı destek talebi oluşturuldu. Destek ekibimiz sizinle iletişime geçecek.',
      email: 'E-posta', phone: 'Telefon', agent: 'Destek', thinking: 'Asistan düşünüyor…',
      eta: 'Yanıt yaklaşık {s} sn içinde başlayacak.', step: 'Adım {n}', stepOf: 'Adım {n} / {total}', help: 'Bu işe yaradı mı?', offer: 'Bir destek teknisyeniyle görüşmek ister misiniz?', fixed: 'Düzeldi', notFixed: 'Düzelmedi',
      cannot: 'Bunu yapamıyorum', sources: 'Kaynaklar', page: 's. {n}', machine: 'Makine',
      pickMachine: 'Hangi makine üzerinde çalışıyorsunuz?', general: 'Genel soru', language: 'Dil',
      welcome: 'Merhaba {name}! Sorunu açıklayın, size adım adım yol göstereyim.',
      welcome0: 'Merhaba! Sorunu açıklayın, size adım adım yol göstereyim.',
      retrieval: 'Yapay zekâ modeli şu anda kullanılamıyor; bu yanıt doğrudan kılavuzlardan alınmıştır.',
      cancelled: 'Yanıt durduruldu.', failed: 'Yanıt tamamlanamadı. Lütfen tekrar deneyin.',
      pending: 'Gönderilmeyi bekliyor…', notSent: 'Gönderilemedi', you: 'Siz', assistant: 'Asistan', log: 'Sohbet',
      error: 'Bir şeyler ters gitti. Lütfen tekrar deneyin.', auth: 'Asistana giriş yapılamadı. Lütfen sayfayı yenileyin.',
      consentAgree: 'Kabul ediyorum', consentDecline: 'Hayır, teşekkürler', consentDeclined: 'Onayınız olmadan hiçbir şey saklanmaz, bu yüzden asistan kullanılamaz. Fikrinizi değiştirebilirsiniz:'
    },
    no: {
      title: 'ABParts-assistent', open: 'Åpne ABParts-assistenten', close: 'Lukk', min: 'Minimer', max: 'Maksimer',
      restore: 'Gjenopprett', online: 'Tilkoblet', off: 'Frakoblet', connecting: 'Kobler til…', reconnecting: 'Kobler til på nytt…',
      offline: 'Du er frakoblet. Meldingene dine sendes når forbindelsen er tilbake.',
      lost: 'Forbindelsen ble brutt. Kobler til på nytt…', placeholder: 'Beskriv problemet…', send: 'Send', stop: 'Stopp',
      mic: 'Spill inn en talemelding', micStop: 'Stopp opptaket', recording: 'Tar opp… trykk på mikrofonen igjen for å stoppe.',
      transcribing: 'Gjør om tale til tekst…', checkTranscript: 'Kontroller teksten, rett den om nødvendig, og send.',
      micError: 'Mikrofonen er ikke tilgjengelig.', readAloud: 'Les opp', stopReading: 'Stopp opplesingen',
      up: 'Nyttig', down: 'Ikke nyttig', thanks: 'Takk for tilbakemeldingen.', human: 'Snakk med et menneske',
      solved: 'Problemet er løst', solvedNote: 'Merket som løst. Takk!', newChat: 'Ny samtale',
      escalated: 'Supportsak {n} er opprettet. Supportteamet vårt tar kontakt med deg.', email: 'E-post',
      phone: 'Telefon', agent: 'Support', thinking: 'Assistenten tenker…', eta: 'Svaret starter om omtrent {s} s.',
      step: 'Trinn {n}', stepOf: 'Trinn {n} av {total}', help: 'Hjalp det?', offer: 'Vil du snakke med en supporttekniker?', fixed: 'Løst', notFixed: 'Ikke løst', cannot: 'Jeg kan ikke gjøre dette', sources: 'Kilder',
      page: 's. {n}', machine: 'Maskin', pickMachine: 'Hvilken maskin jobber du med?', general: 'Generelt spørsmål',
      language: 'Språk', welcome: 'Hei, {name}! Beskriv problemet, så veileder jeg deg trinn for trinn.',
      welcome0: 'Hei! Beskriv problemet, så veileder jeg deg trinn for trinn.',
      retrieval: 'KI-modellen er ikke tilgjengelig akkurat nå, så dette svaret er hentet direkte fra håndbøkene.',
      cancelled: 'Svaret ble stoppet.', failed: 'Svaret kunne ikke fullføres. Prøv igjen.',
      pending: 'Venter på sending…', notSent: 'Ikke sendt', you: 'Du', assistant: 'Assistent', log: 'Samtale',
      error: 'Noe gikk galt. Prøv igjen.', auth: 'Kunne ikke logge på assistenten. Last inn siden på nytt.',
      consentAgree: 'Jeg godtar', consentDecline: 'Nei takk', consentDeclined: 'Uten samtykket ditt lagres ingenting, så assistenten kan ikke brukes. Du kan ombestemme deg:'
    }
  };

  // Strings of the conversation list, the handover to a person and the read-only state, merged into I18N.
  var I18N_MORE = {
    en: { history: 'Earlier conversations', historyEmpty: 'No earlier conversations yet.', back: 'Back to the conversation',
      stOpen: 'Open', stEscalated: 'Escalated', stResolved: 'Resolved', stClosed: 'Closed', answering: 'answer being written',
      readOnly: 'This conversation is closed. Start a new conversation to ask again.', untitled: 'Conversation without a question',
      manualsOnly: 'No AI model is configured, so this answer comes straight from the manuals.',
      backupModel: 'The main AI model did not answer, so a backup model wrote this answer.' },
    el: { history: 'Προηγούμενες συνομιλίες', historyEmpty: 'Δεν υπάρχουν ακόμη προηγούμενες συνομιλίες.', back: 'Πίσω στη συνομιλία',
      stOpen: 'Ανοιχτή', stEscalated: 'Σε υποστήριξη', stResolved: 'Επιλύθηκε', stClosed: 'Κλειστή', answering: 'γράφεται απάντηση',
      readOnly: 'Αυτή η συνομιλία έχει κλείσει. Ξεκινήστε νέα συνομιλία για να ρωτήσετε ξανά.', untitled: 'Συνομιλία χωρίς ερώτηση',
      manualsOnly: 'Δεν έχει ρυθμιστεί μοντέλο τεχνητής νοημοσύνης, οπότε η απάντηση προέρχεται απευθείας από τα εγχειρίδια.',
      backupModel: 'Το κύριο μοντέλο τεχνητής νοημοσύνης δεν απάντησε, οπότε αυτή την απάντηση την έγραψε ένα εφεδρικό μοντέλο.' },
    ar: { history: 'المحادثات السابقة', historyEmpty: 'لا توجد محادثات سابقة بعد.', back: 'العودة إلى المحادثة',
      stOpen: 'مفتوحة', stEscalated: 'محالة إلى الدعم', stResolved: 'تم الحل', stClosed: 'مغلقة', answering: 'تتم كتابة إجابة',
      readOnly: 'هذه المحادثة مغلقة. ابدأ محادثة جديدة لتسأل مرة أخرى.', untitled: 'محادثة بلا سؤال',
      manualsOnly: 'لم يتم إعداد نموذج ذكاء اصطناعي، لذا هذه الإجابة مأخوذة مباشرة من الأدلة.',
      backupModel: 'لم يستجب نموذج الذكاء الاصطناعي الرئيسي، لذا كتب هذه الإجابة نموذج احتياطي.' },
    es: { history: 'Conversaciones anteriores', historyEmpty: 'Todavía no hay conversaciones anteriores.', back: 'Volver a la conversación',
      stOpen: 'Abierta', stEscalated: 'Escalada', stResolved: 'Resuelta', stClosed: 'Cerrada', answering: 'respuesta en curso',
      readOnly: 'Esta conversación está cerrada. Inicie una conversación nueva para volver a preguntar.', untitled: 'Conversación sin pregunta',
      manualsOnly: 'No hay ningún modelo de IA configurado, así que esta respuesta procede directamente de los manuales.',
      backupModel: 'El modelo de IA principal no respondió, así que esta respuesta la escribió un modelo de respaldo.' },
    tr: { history: 'Önceki sohbetler', historyEmpty: 'Henüz önceki sohbet yok.', back: 'Sohbete dön',
      stOpen: 'Açık', stEscalated: 'Desteğe aktarıldı', stResolved: 'Çözüldü', stClosed: 'Kapalı', answering: 'yanıt yazılıyor',
      readOnly: 'Bu sohbet kapatıldı. Tekrar sormak için yeni bir sohbet başlatın.', untitled: 'Sorusuz sohbet',
      manualsOnly: 'Yapılandırılmış bir yapay zekâ modeli yok; bu yanıt doğrudan kılavuzlardan alınmıştır.',
      backupModel: 'Ana yapay zekâ modeli yanıt vermedi; bu yanıtı yedek bir model yazdı.' },
    no: { history: 'Tidligere samtaler', historyEmpty: 'Ingen tidligere samtaler ennå.', back: 'Tilbake til samtalen',
      stOpen: 'Åpen', stEscalated: 'Sendt til support', stResolved: 'Løst', stClosed: 'Lukket', answering: 'svar skrives',
      readOnly: 'Denne samtalen er lukket. Start en ny samtale for å spørre igjen.', untitled: 'Samtale uten spørsmål',
      manualsOnly: 'Ingen KI-modell er satt opp, så dette svaret er hentet direkte fra håndbøkene.',
      backupModel: 'Hoved-KI-modellen svarte ikke, så dette svaret er skrevet av en reservemodell.' }
  };
  Object.keys(I18N_MORE).forEach(function (l) { if (I18N[l]) Object.keys(I18N_MORE[l]).forEach(function (k) { I18N[l][k] = I18N_MORE[l][k]; }); });

  // ---------------------------------------------------------------- small DOM helpers
  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      var v = attrs[k];
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    if (kids) for (var i = 0; i < kids.length; i++) if (kids[i]) el.appendChild(kids[i]);
    return el;
  }
  var ICONS = {
    chat: 'M4 5h16v11H9l-5 4z M8 9h8 M8 12h5', close: 'M6 6l12 12M18 6L6 18', min: 'M5 12h14',
    max: 'M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5', restore: 'M9 4v5H4M15 4v5h5M9 20v-5H4M15 20v-5h5',
    send: 'M4 12l16-8-6 16-3-7z', mic: 'M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3zM5 11a7 7 0 0 0 14 0M12 18v3',
    up: 'M7 11v9H4v-9zM7 11l4-8a2 2 0 0 1 2 2v4h5.5a2 2 0 0 1 2 2.3l-1.2 7A2 2 0 0 1 17.3 20H7',
    speak: 'M4 9h4l5-4v14l-5-4H4zM16 9a4 4 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11', machine: 'M3 8h18v9H3zM7 17v3M17 17v3M7 12h4M15 12h2',
    human: 'M4 15v-3a8 8 0 0 1 16 0v3M4 14h3v6H4zM17 14h3v6h-3z', stop: 'M7 7h10v10H7z', check: 'M5 12l5 5 9-10',
    warn: 'M12 9v4M12 17v.5M10.3 4.3L2.5 18a2 2 0 0 0 1.7 3h15.6a2 2 0 0 0 1.7-3L13.7 4.3a2 2 0 0 0-3.4 0z',
    plus: 'M12 5v14M5 12h14',
    history: 'M3 12a9 9 0 1 0 3-6.7L3 8M3 3v5h5M12 7v5l3 3'
  };
  var SVGNS = 'http://www.w3.org/2000/svg';
  function icon(name, cls) {
    var s = document.createElementNS(SVGNS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24'); s.setAttribute('aria-hidden', 'true'); s.setAttribute('focusable', 'false');
    if (cls) s.setAttribute('class', cls);
    var p = document.createElementNS(SVGNS, 'path');
    p.setAttribute('d', ICONS[name]);
    s.appendChild(p);
    return s;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16); crypto.getRandomValues(b); b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var x = Array.prototype.map.call(b, function (v) { return (v + 256).toString(16).slice(1); }).join('');
    return x.slice(0, 8) + '-' + x.slice(8, 12) + '-' + x.slice(12, 16) + '-' + x.slice(16, 20) + '-' + x.slice(20);
  }
  function store(kind) { try { return window[kind]; } catch (e) { return null; } } // blocked storage (privacy modes)
  function sget(st, k) { try { var v = st && st.getItem(k); return v ? JSON.parse(v) : null; } catch (e) { return null; } }
  function sset(st, k, v) { try { if (!st) return; if (v == null) st.removeItem(k); else st.setItem(k, JSON.stringify(v)); } catch (e) { /* quota */ } }

  // A link target is accepted only if it resolves to http(s); everything else (javascript:, data:, vbscript:) is dropped.
  function safeUrl(href, base) {
    if (typeof href !== 'string') return null;
    href = href.trim();
    if (/^[\u0000-\u001f]|[\u0000-\u001f\u007f]/.test(href)) return null;
    try {
      var u = new URL(href, base || location.href);
      return (u.protocol === 'http:' || u.protocol === 'https:') ? u.href : null;
    } catch (e) { return null; }
  }

  // ---------------------------------------------------------------- safe Markdown -> DOM
  // Block level: paragraphs, headings, lists (nested by indent), fenced code, quotes, rules. Inline: code, bold,
  // italics, links, bare URLs, citation markers [n]. Raw HTML is shown as text, never parsed.
  var INLINE = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__|\*(?=[^\s*])([^*]*?[^\s*])\*|(^|[^\w])_(?=[^\s_])([^_]*?[^\s_])_(?!\w)|\[([^\]\n]+)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"\n]*")?\s*\)|(https?:\/\/[^\s<>"'`]+[^\s<>"'`.,;:!?)\]])|\[(\d{1,3})\]|\n/g;
  function inline(text, parent, noLinks) {
    var re = new RegExp(INLINE.source, 'g'), last = 0, m;
    while ((m = re.exec(text))) {
      var start = m.index;
      if (m[6] !== undefined) start += m[6].length; // keep the char before _em_
      if (start > last) parent.appendChild(document.createTextNode(text.slice(last, start)));
      last = re.lastIndex;
      if (m[1]) parent.appendChild(h('code', { text: m[2] }));
      else if (m[3] !== undefined || m[4] !== undefined) inline(m[3] !== undefined ? m[3] : m[4], parent.appendChild(h('strong')), noLinks);
      else if (m[5] !== undefined || m[7] !== undefined) inline(m[5] !== undefined ? m[5] : m[7], parent.appendChild(h('em')), noLinks);
      else if (m[8] !== undefined) {
        var url = noLinks ? null : safeUrl(m[9]);
        if (url) inline(m[8], parent.appendChild(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' })), true);
        else inline(m[8], parent, true);
      } else if (m[10] !== undefined) {
        if (noLinks) parent.appendChild(document.createTextNode(m[10]));
        else parent.appendChild(h('a', { href: safeUrl(m[10]), target: '_blank', rel: 'noopener noreferrer', text: m[10] }));
      } else if (m[11] !== undefined) parent.appendChild(h('sup', { class: 'ref', text: '[' + m[11] + ']' }));
      else parent.appendChild(h('br'));
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }
  function markdown(src, parent) {
    var lines = String(src).replace(/\r\n?/g, '\n').split('\n'), i = 0, para = [], lists = [], m;
    function flush() { if (para.length) { inline(para.join('\n'), parent.appendChild(h('p'))); para = []; } }
    function endLists() { lists = []; }
    while (i < lines.length) {
      var line = lines[i];
      if ((m = /^\s*(```|~~~)/.exec(line))) {
        flush(); endLists();
        var code = [], fence = m[1]; i++;
        while (i < lines.length && lines[i].trim().indexOf(fence) !== 0) code.push(lines[i++]);
        i++;
        parent.appendChild(h('pre', null, [h('code', { text: code.join('\n') })]));
        continue;
      }
      if (!line.trim()) { flush(); endLists(); i++; continue; }
      if ((m = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
        flush(); endLists();
        inline(m[2], parent.appendChild(h(m[1].length <= 2 ? 'h3' : 'h4'))); i++; continue;
      }
      if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) { flush(); endLists(); parent.appendChild(h('hr')); i++; continue; }
      if ((m = /^\s{0,3}>\s?(.*)$/.exec(line))) {
        flush(); endLists();
        var q = [];
        while (i < lines.length && (m = /^\s{0,3}>\s?(.*)$/.exec(lines[i]))) { q.push(m[1]); i++; }
        markdown(q.join('\n'), parent.appendChild(h('blockquote')));
        continue;
      }
      if ((m = /^(\s*)([-*+•]|(\d{1,3})[.)])\s+(.*)$/.exec(line))) {
        flush();
        var indent = m[1].replace(/\t/g, '    ').length, ordered = !!m[3];
        while (lists.length && indent < lists[lists.length - 1].indent) lists.pop();
        var top = lists[lists.length - 1];
        if (top && indent > top.indent && top.li) {
          top = { indent: indent, el: top.li.appendChild(h(ordered ? 'ol' : 'ul')), ordered: ordered };
          lists.push(top);
        } else if (!top || top.ordered !== ordered) {
          var el = h(ordered ? 'ol' : 'ul');
          if (ordered && m[3] !== '1') el.setAttribute('start', String(parseInt(m[3], 10)));
          if (top) lists.pop();
          (lists.length ? lists[lists.length - 1].li : parent).appendChild(el);
          top = { indent: indent, el: el, ordered: ordered };
          lists.push(top);
        }
        top.li = inline(m[4], top.el.appendChild(h('li')));
        i++; continue;
      }
      if (lists.length && /^\s+\S/.test(line)) { // continuation of a list item
        var li = lists[lists.length - 1].li;
        li.appendChild(h('br')); inline(line.trim(), li); i++; continue;
      }
      endLists(); para.push(line); i++;
    }
    flush();
    return parent;
  }
  function plainText(src) { // for speech synthesis
    return String(src).replace(/```[\s\S]*?```/g, ' ').replace(/\[(\d+)\]/g, '').replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
      .replace(/[*_`#>]+/g, '').replace(/\s+/g, ' ').trim();
  }

  // ---------------------------------------------------------------- styles
  var CSS = [
    ':host{all:initial}',
    '.w{--brand:#0b5cad;--on:#fff;--bg:#fff;--fg:#1b2430;--muted:#5d6776;--line:#e1e5eb;--bub:#f1f3f6;--card:#fff;--soft:#f7f8fa;',
    '--shadow:0 16px 48px rgba(16,32,64,.24),0 2px 8px rgba(16,32,64,.12);--focus:#1a73e8;--warn-bg:#fff4d6;--warn-fg:#5c4400;',
    'font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans Arabic",Tahoma,Arial,sans-serif;color:var(--fg)}',
    '.w.dark{--bg:#141920;--fg:#e6eaf0;--muted:#9aa5b4;--line:#2b333e;--bub:#212935;--card:#1a212a;--soft:#1a212a;',
    '--shadow:0 16px 48px rgba(0,0,0,.6);--focus:#8ab4f8;--warn-bg:#3b3112;--warn-fg:#ffe3a3}',
    '[hidden]{display:none!important}*{box-sizing:border-box}button,select,textarea,input{font:inherit;color:inherit;margin:0}',
    ':focus{outline:none}:focus-visible{outline:3px solid var(--focus);outline-offset:2px}',
    'button{cursor:pointer}button:disabled{cursor:default}',
    '.launch{position:fixed;bottom:24px;right:24px;width:60px;height:60px;border-radius:50%;border:0;background:var(--brand);color:var(--on);',
    'box-shadow:var(--shadow);display:grid;place-items:center;z-index:2147483000;transition:transform .15s}',
    '.launch:hover{transform:scale(1.06)}.launch svg{width:28px;height:28px}.launch[hidden]{display:none}',
    'svg{fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}',
    '.badge{position:absolute;top:-3px;right:-3px;min-width:22px;height:22px;border-radius:11px;background:#d93025;color:#fff;',
    'font-size:12px;font-weight:700;display:grid;place-items:center;padding:0 6px;border:2px solid #fff}.badge[hidden]{display:none}',
    '.panel{position:fixed;bottom:24px;right:24px;width:390px;height:min(640px,calc(100vh - 48px));display:flex;flex-direction:column;',
    'background:var(--bg);border-radius:16px;box-shadow:var(--shadow);overflow:hidden;z-index:2147483001;border:1px solid var(--line)}',
    '.panel[hidden]{display:none}.panel.max{width:min(980px,calc(100vw - 48px));height:calc(100vh - 48px)}',
    '.panel.min{height:auto}.panel.min>:not(.head){display:none}',
    '.head{display:flex;align-items:center;gap:4px;padding:12px 8px 12px 14px;background:var(--brand);color:var(--on);flex:none}',
    '[dir=rtl] .head{padding:12px 14px 12px 8px}.head .ib{width:34px}.ttl{margin-inline-start:6px}',
    '.av{width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.2);display:grid;place-items:center;flex:none}.av svg{width:20px;height:20px}',
    '.ttl{flex:1;min-width:0}h2{margin:0;font-size:15px;font-weight:650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '.st{font-size:12px;opacity:.92;display:flex;align-items:center;gap:6px}.dot{width:8px;height:8px;border-radius:50%;background:#c4cbd4}',
    '.dot.on{background:#3ddc84}.dot.off{background:#ffb300}',
    '.ib{width:36px;height:36px;border:0;border-radius:10px;background:transparent;display:grid;place-items:center;flex:none;padding:0}',
    '.ib:hover{background:rgba(127,127,127,.2)}.ib svg{width:18px;height:18px}.head .ib:focus-visible{outline-color:var(--on)}',
    '.bar{display:flex;gap:8px;align-items:center;padding:8px 12px;border-bottom:1px solid var(--line);background:var(--soft);flex:none}',
    '.mach{flex:0 1 auto;max-width:70%;min-width:0;display:flex;align-items:center;gap:6px;border:1px solid var(--line);background:var(--bg);border-radius:999px;',
    'padding:5px 12px;font-size:13px;text-align:start}.mach span{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.mach svg{width:16px;height:16px;flex:none;color:var(--brand)}',
    'select{border:1px solid var(--line);border-radius:999px;padding:5px 10px;background:var(--bg);font-size:13px;max-width:42%;margin-inline-start:auto}',
    '.banner{display:flex;gap:8px;align-items:center;padding:8px 14px;font-size:13px;background:var(--warn-bg);color:var(--warn-fg);flex:none}',
    '.banner[hidden]{display:none}.banner svg{width:16px;height:16px;flex:none}',
    '.log{flex:1;overflow-y:auto;padding:16px 14px;display:flex;flex-direction:column;gap:12px;overscroll-behavior:contain}',
    '.msg{max-width:min(86%,760px);overflow-wrap:anywhere}',
    '.user{align-self:flex-end;background:var(--brand);color:var(--on);padding:9px 13px;border-radius:18px 18px 4px 18px;white-space:pre-wrap}',
    '[dir=rtl] .user{border-radius:18px 18px 18px 4px}[dir=rtl] .bot{border-radius:18px 18px 4px 18px}',
    '.user.failed{background:#b3261e;color:#fff}.user.pending{opacity:.72}.meta{display:block;font-size:11px;opacity:.85;margin-top:3px}',
    '.bot{align-self:flex-start;background:var(--bub);padding:10px 14px;border-radius:18px 18px 18px 4px}',
    '.agent{border-inline-start:4px solid var(--brand)}.who{font-size:11px;font-weight:700;color:var(--muted);margin-bottom:2px}',
    '.md p{margin:0 0 .55em}.md>:last-child,.md li>:last-child{margin-bottom:0}.md ul,.md ol{margin:.2em 0 .6em;padding-inline-start:1.4em}',
    '.md li{margin:.15em 0}.md h3,.md h4{margin:.5em 0 .3em;font-size:14.5px}.md hr{border:0;border-top:1px solid var(--line)}',
    '.md code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;background:rgba(127,127,127,.17);padding:1px 4px;border-radius:4px}',
    '.md pre{background:#0f1720;color:#e6edf3;padding:10px 12px;border-radius:8px;overflow:auto;direction:ltr;text-align:left}',
    '.md pre code{background:none;padding:0}.md a{color:var(--brand);text-decoration:underline}.w.dark .md a{color:#8ab4f8}',
    '.md blockquote{margin:.3em 0;padding-inline-start:10px;border-inline-start:3px solid var(--line);color:var(--muted)}',
    '.ref{font-size:10px;color:var(--brand);font-weight:700;margin-inline-start:1px}.w.dark .ref{color:#8ab4f8}',
    '.step{border:1px solid var(--line);background:var(--card);border-radius:12px;padding:10px 12px;margin:8px 0;box-shadow:0 1px 2px rgba(0,0,0,.05)}',
    '.sh{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.05em;color:var(--brand)}.w.dark .sh{color:#8ab4f8}',
    '.outs{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}.step .q{font-size:12px;color:var(--muted);margin-top:6px}',
    '.btn{border:1px solid var(--line);background:var(--bg);border-radius:999px;padding:6px 12px;font-size:13px;line-height:1.3}',
    '.btn:hover:not(:disabled){border-color:var(--brand)}.btn[aria-pressed=true]{background:var(--brand);color:var(--on);border-color:var(--brand)}',
    '.btn:disabled:not([aria-pressed=true]){opacity:.5}.btn.pri{background:var(--brand);color:var(--on);border-color:var(--brand)}',
    '.cites{display:flex;flex-wrap:wrap;gap:6px;margin-top:10px;align-items:center}.cl{font-size:11px;color:var(--muted);font-weight:600}',
    '.chip{display:inline-flex;align-items:center;gap:5px;font-size:12px;padding:3px 10px;border-radius:999px;background:var(--bg);',
    'border:1px solid var(--line);color:var(--fg);text-decoration:none;max-width:100%}.chip:hover{border-color:var(--brand)}',
    '.chip b{color:var(--brand);white-space:nowrap;flex:none}.w.dark .chip b{color:#8ab4f8}.chip span{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '.acts{display:flex;gap:2px;margin-top:6px;align-items:center;color:var(--muted);font-size:12px}.acts .ib{width:30px;height:30px}',
    '.acts .ib svg{width:16px;height:16px}.acts .ib[aria-pressed=true]{color:var(--brand);background:rgba(127,127,127,.16)}',
    '.flip{transform:rotate(180deg)}.note{font-size:12px;color:var(--muted);margin-top:6px;font-style:italic}',
    '.sys{align-self:center;font-size:12px;color:var(--muted);text-align:center;max-width:92%}',
    '.card{align-self:stretch;border:1px solid var(--line);border-radius:12px;padding:12px 14px;background:var(--card)}',
    '.card p{margin:0 0 8px}.card .outs{margin-top:4px}.tk{font-weight:700;font-size:15px}.card a{color:var(--brand)}',
    '.card.ok{border-color:#3c9a5f;border-inline-start-width:4px}',
    '.typing{display:flex;align-items:center;gap:8px;padding:4px 16px 6px;font-size:12px;color:var(--muted);flex:none}.typing[hidden]{display:none}',
    '.dots{display:inline-flex;gap:3px}.dots i{width:6px;height:6px;border-radius:50%;background:var(--muted);animation:b 1.2s infinite}',
    '.dots i:nth-child(2){animation-delay:.2s}.dots i:nth-child(3){animation-delay:.4s}@keyframes b{0%,80%,100%{opacity:.25}40%{opacity:1}}',
    '.typing .btn{margin-inline-start:auto;padding:3px 10px;font-size:12px}',
    '.hint{padding:0 16px 4px;font-size:12px;color:var(--muted);flex:none}.hint:empty{display:none}',
    '.comp{display:flex;align-items:flex-end;gap:6px;padding:10px 10px 6px;border-top:1px solid var(--line);flex:none}',
    'textarea{flex:1;resize:none;border:1px solid var(--line);border-radius:20px;padding:9px 14px;max-height:140px;min-height:42px;background:var(--bg);line-height:1.4}',
    'textarea:focus-visible{outline:none;border-color:var(--brand);box-shadow:0 0 0 3px color-mix(in srgb,var(--brand) 30%,transparent)}',
    '.comp .ib{width:42px;height:42px;border-radius:50%;color:var(--muted)}.comp .send{background:var(--brand);color:var(--on)}',
    '.comp .send:hover{background:var(--brand);filter:brightness(1.1)}[dir=rtl] .send svg{transform:scaleX(-1)}',
    '.mic.rec{background:#d93025;color:#fff;animation:p 1.4s infinite}@keyframes p{50%{box-shadow:0 0 0 6px rgba(217,48,37,.25)}}',
    '.foot{display:flex;gap:2px;justify-content:center;flex-wrap:wrap;padding:0 8px 8px;flex:none}',
    '.lk{display:inline-flex;align-items:center;gap:4px;border:0;background:none;color:var(--muted);font-size:12px;padding:4px 8px;border-radius:6px}',
    '.lk svg{width:14px;height:14px}.lk:hover{color:var(--brand);background:rgba(127,127,127,.12)}',
    '.hist{flex:1;overflow-y:auto;padding:12px 14px;display:flex;flex-direction:column;gap:8px}.hist[hidden],.log[hidden]{display:none}',
    '.hh{display:flex;align-items:center;gap:8px}.hh h3{flex:1;margin:0;font-size:14px}.hl{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}',
    '.hi{width:100%;display:flex;flex-direction:column;gap:2px;text-align:start;border:1px solid var(--line);background:var(--card);border-radius:10px;padding:8px 12px}',
    '.hi:hover{border-color:var(--brand)}.hi.cur{border-inline-start:4px solid var(--brand)}.ht{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}',
    '.hm{font-size:12px;color:var(--muted)}.hs{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}',
    '.hs.st-resolved{color:#2e7d4f}.hs.st-escalated{color:#b26a00}.hs.st-open{color:var(--brand)}.w.dark .hs.st-open{color:#8ab4f8}',
    'textarea:disabled{opacity:.55}.foot[hidden]{display:none}.ro-log .step .btn,.ro-log .card.offer .btn{pointer-events:none;opacity:.6}',
    '.agent-typing{display:flex;align-items:center;gap:8px;padding:4px 16px 6px;font-size:12px;color:var(--muted);flex:none}.agent-typing[hidden]{display:none}',
    '.sys.handover{font-weight:600;color:var(--fg)}.ro{padding:6px 16px;font-size:12px;color:var(--muted);flex:none;text-align:center}.ro[hidden]{display:none}',
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    '@media (max-width:600px){.panel,.panel.max{top:0;left:0;right:0;bottom:0;width:100%;height:100%;border-radius:0;border:0}',
    '.maxb,.av{display:none}.launch{bottom:16px;right:16px}.msg{max-width:92%}}',
    '@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}'
  ].join('\n');

  // ---------------------------------------------------------------- the widget
  function Widget(opts) {
    this.o = opts;
    this.base = String(opts.baseUrl || '').replace(/\/+$/, '');
    var b = new URL(this.base || '.', location.href);
    this.wsUrl = opts.wsUrl || (b.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + b.host + b.pathname.replace(/\/+$/, '') + '/ws';
    this.ss = store('sessionStorage');
    this.key = 'abpa:' + (this.base || location.host) + ':';
    this.lang = pickLang(sget(this.ss, this.key + 'lang') || opts.language);
    this.langChosen = !!sget(this.ss, this.key + 'lang') || !!opts.language;
    // Only a language the person picked is sent to the server; the host page's data-lang sets the UI only,
    // so a message is answered in the language it is written in and the token's language stays the default.
    this.langPicked = !!sget(this.ss, this.key + 'lang');
    this.sessionId = sget(this.ss, this.key + 'session');
    this.lastSeq = 0;
    this.outbox = sget(this.ss, this.key + 'outbox') || [];
    this.ctl = [];
    this.answers = {};
    this.users = {};
    this.bind = [];
    this.machines = normMachines(opts.machines);
    this.machineId = opts.machineId || null;
    this.unread = 0;
    this.retry = 0;
    this.authFails = 0;
    this.build();
    var self = this;
    window.addEventListener('online', function () { self.retry = 0; self.connect(); });
    window.addEventListener('offline', function () { self.net('offline'); if (self.ws) self.ws.close(4000, 'offline'); });
    if (sget(this.ss, this.key + 'open')) this.open(true);
    this.connect();
  }
  function pickLang(l) {
    l = String(l || '').toLowerCase().slice(0, 2);
    if (l === 'nb' || l === 'nn') l = 'no';
    return LANGS.indexOf(l) >= 0 ? l : 'en';
  }
  function normMachines(list) {
    return (Array.isArray(list) ? list : []).map(function (m) {
      return typeof m === 'string' ? { id: m, name: m } : { id: String(m.id), name: String(m.name || m.model || m.id) };
    });
  }
  function contrast(hex) {
    var m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(hex || '');
    if (!m) return '#fff';
    var x = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
    var c = [0, 2, 4].map(function (i) { var v = parseInt(x.substr(i, 2), 16) / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2] > 0.45 ? '#111' : '#fff';
  }

  var P = Widget.prototype;
  P.t = function (k, vars) {
    var s = (I18N[this.lang] && I18N[this.lang][k]) || I18N.en[k] || k;
    return vars ? s.replace(/\{(\w+)\}/g, function (_, v) { return vars[v] != null ? vars[v] : ''; }) : s;
  };
  // Bind a translatable string to an element property or attribute so a language switch updates it.
  P.tx = function (el, key, attr, vars) {
    this.bind.push([el, key, attr, vars]);
    this.apply1(this.bind[this.bind.length - 1]);
    return el;
  };
  P.apply1 = function (b) {
    var s = this.t(b[1], b[3]);
    if (!b[2]) b[0].textContent = s; else b[0].setAttribute(b[2], s);
    if (b[2] === 'aria-label' && b[0].tagName === 'BUTTON') b[0].setAttribute('title', s);
  };

  P.build = function () {
    var self = this, o = this.o;
    this.host = h('div', { id: 'abparts-assistant', 'data-abparts-assistant': VERSION });
    var root = this.host.attachShadow({ mode: 'open' });
    // Constructed stylesheets are not blocked by a host page's Content-Security-Policy (style-src without 'unsafe-inline').
    try { var sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); root.adoptedStyleSheets = [sheet]; }
    catch (e) { root.appendChild(h('style', { text: CSS })); }
    var color = /^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(o.color || '') ? o.color : '#0b5cad';
    var theme = o.theme === 'dark' || (o.theme === 'auto' && window.matchMedia && matchMedia('(prefers-color-scheme: dark)').matches) ? 'dark' : 'light';
    this.w = h('div', { class: 'w' + (theme === 'dark' ? ' dark' : ''), 'data-theme': theme });
    this.w.style.setProperty('--brand', color);
    this.w.style.setProperty('--on', contrast(color));
    root.appendChild(this.w);

    this.badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
    this.launch = this.tx(h('button', { class: 'launch', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'abpa-panel',
      onclick: function () { self.open(); } }, [icon('chat'), this.badge]), 'open', 'aria-label');

    this.title = this.tx(h('h2', { id: 'abpa-title' }), 'title');
    this.dot = h('span', { class: 'dot' });
    this.stText = h('span');
    this.minB = h('button', { class: 'ib', type: 'button', onclick: function () { self.minimise(); } }, [icon('min')]);
    this.maxB = h('button', { class: 'ib maxb', type: 'button', onclick: function () { self.maximise(); } }, [icon('max')]);
    var histB = this.tx(h('button', { class: 'ib histb', type: 'button', onclick: function () { self.showHistory(); } }, [icon('history')]), 'history', 'aria-label');
    var newB = this.tx(h('button', { class: 'ib new', type: 'button', onclick: function () { self.newConversation(); } }, [icon('plus')]), 'newChat', 'aria-label');
    var closeB = this.tx(h('button', { class: 'ib', type: 'button', onclick: function () { self.close(); } }, [icon('close')]), 'close', 'aria-label');
    var head = h('div', { class: 'head' }, [h('div', { class: 'av' }, [icon('chat')]),
      h('div', { class: 'ttl' }, [this.title, h('div', { class: 'st', role: 'status' }, [this.dot, this.stText])]),
      histB, newB, this.minB, this.maxB, closeB]);
    head.addEventListener('click', function (e) { if (self.panel.classList.contains('min') && e.target === head) self.minimise(); });

    this.machLabel = h('span');
    this.machB = h('button', { class: 'mach', type: 'button', 'aria-haspopup': 'true', onclick: function () { self.showPicker(); } },
      [icon('machine'), this.machLabel]);
    this.langSel = this.tx(h('select', { onchange: function () { self.setLanguage(this.value, true); } }), 'language', 'aria-label');
    LANGS.forEach(function (l) { self.langSel.appendChild(h('option', { value: l, lang: l, text: LANG_NAMES[l] })); });
    var bar = h('div', { class: 'bar' }, [this.machB, this.langSel]);

    this.bannerText = h('span');
    this.banner = h('div', { class: 'banner', role: 'alert', hidden: true }, [icon('warn'), this.bannerText]);
    this.log = this.tx(h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' }), 'log', 'aria-label');
    this.typingText = h('span');
    this.stopB = this.tx(h('button', { class: 'btn', type: 'button', onclick: function () { self.sendCtl({ type: 'cancel' }); } }), 'stop');
    this.dots = h('span', { class: 'dots', 'aria-hidden': 'true' }, [h('i'), h('i'), h('i')]);
    this.typing = h('div', { class: 'typing', hidden: true, role: 'status' }, [this.dots, this.typingText, this.stopB]);
    this.log.addEventListener('scroll', function () { var l = self.log; self.stick = l.scrollHeight - l.scrollTop - l.clientHeight < 40; });
    this.hint = h('div', { class: 'hint', 'aria-live': 'polite' });
    this.histList = h('ul', { class: 'hl' });
    this.hist = h('div', { class: 'hist', hidden: true }, [h('div', { class: 'hh' }, [this.tx(h('h3'), 'history'),
      this.tx(h('button', { class: 'btn', type: 'button', onclick: function () { self.hideHistory(); } }), 'back')]), this.histList]);
    this.agentTypingText = h('span');
    this.agentTyping = h('div', { class: 'agent-typing', hidden: true, role: 'status' },
      [h('span', { class: 'dots', 'aria-hidden': 'true' }, [h('i'), h('i'), h('i')]), this.agentTypingText]);
    this.roNote = this.tx(h('div', { class: 'ro', role: 'status', hidden: true }), 'readOnly');

    this.input = this.tx(this.tx(h('textarea', { rows: '1', id: 'abpa-input' }), 'placeholder', 'placeholder'), 'placeholder', 'aria-label');
    this.input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); self.submit(); }
    });
    this.input.addEventListener('input', function () { self.grow(); });
    this.micB = this.tx(h('button', { class: 'ib mic', type: 'button', 'aria-pressed': 'false', onclick: function () { self.toggleMic(); } }, [icon('mic')]), 'mic', 'aria-label');
    var sendB = this.sendB = this.tx(h('button', { class: 'ib send', type: 'submit' }, [icon('send')]), 'send', 'aria-label');
    var form = h('form', { class: 'comp', onsubmit: function (e) { e.preventDefault(); self.submit(); } }, [this.input, this.micB, sendB]);
    if (!(navigator.mediaDevices && window.MediaRecorder)) this.micB.hidden = true;

    var foot = this.foot = h('div', { class: 'foot' }, [
      this.tx(h('button', { class: 'lk human', type: 'button', onclick: function () { self.escalate(); } }, [icon('human'), h('span')]).lastChild, 'human').parentNode,
      this.tx(h('button', { class: 'lk solved', type: 'button', onclick: function () { self.resolve(); } }, [icon('check'), h('span')]).lastChild, 'solved').parentNode
    ]);
    this.panel = h('section', { class: 'panel', id: 'abpa-panel', role: 'dialog', 'aria-labelledby': 'abpa-title', hidden: true },
      [head, bar, this.banner, this.hist, this.log, this.typing, this.agentTyping, this.hint, this.roNote, form, foot]);
    this.panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { e.preventDefault(); self.close(); }
    });
    this.w.appendChild(this.launch);
    this.w.appendChild(this.panel);
    document.body.appendChild(this.host);
    this.setLanguage(this.lang, false);
    this.renderMachine();
    this.outbox.forEach(function (m) { self.userBubble(m.client_id, m.text, true); });
  };

  P.setLanguage = function (l, chosen) {
    this.lang = pickLang(l);
    if (chosen) { this.langChosen = true; this.langPicked = true; sset(this.ss, this.key + 'lang', this.lang); }
    this.w.setAttribute('dir', this.lang === 'ar' ? 'rtl' : 'ltr');
    this.w.setAttribute('lang', this.lang);
    this.langSel.value = this.lang;
    for (var i = 0; i < this.bind.length; i++) this.apply1(this.bind[i]);
    this.sizeLabels();
    this.net(this.netState || 'connecting');
    this.renderMachine();
  };
  P.sizeLabels = function () {
    var min = this.panel.classList.contains('min'), max = this.panel.classList.contains('max');
    this.minB.replaceChildren(icon(min ? 'restore' : 'min'));
    this.maxB.replaceChildren(icon(max ? 'restore' : 'max'));
    var a = this.t(min ? 'restore' : 'min'), b = this.t(max ? 'restore' : 'max');
    this.minB.setAttribute('aria-label', a); this.minB.title = a;
    this.maxB.setAttribute('aria-label', b); this.maxB.title = b;
    this.maxB.setAttribute('aria-pressed', String(max));
  };

  // ---------------------------------------------------------------- open / close / minimise / maximise
  P.open = function (quiet) {
    this.panel.hidden = false;
    this.panel.classList.remove('min');
    this.launch.hidden = true;
    this.launch.setAttribute('aria-expanded', 'true');
    this.unread = 0; this.badge.hidden = true;
    sset(this.ss, this.key + 'open', true);
    this.sizeLabels();
    this.scroll(true);
    if (!quiet) this.focusIn();
  };
  // An unanswered machine question takes the focus first; otherwise the message box.
  P.focusIn = function () {
    var pick = this.picker && this.picker.querySelector('button:not(:disabled)');
    (pick || this.input).focus();
  };
  P.close = function () {
    this.panel.hidden = true;
    this.launch.hidden = false;
    this.launch.setAttribute('aria-expanded', 'false');
    sset(this.ss, this.key + 'open', null);
    this.launch.focus();
  };
  P.minimise = function () {
    this.panel.classList.toggle('min');
    this.sizeLabels();
    if (!this.panel.classList.contains('min')) { this.unread = 0; this.scroll(true); this.focusIn(); } else this.minB.focus();
  };
  P.maximise = function () {
    this.panel.classList.remove('min');
    this.panel.classList.toggle('max');
    this.sizeLabels();
    this.maxB.focus();
  };
  P.visible = function () { return !this.panel.hidden && !this.panel.classList.contains('min'); };
  P.notify = function () {
    if (this.visible()) return;
    this.unread++;
    this.badge.textContent = String(this.unread);
    this.badge.hidden = false;
  };
  // Follow new content while the reader is at the bottom; leave them alone once they scroll up.
  P.scroll = function (force) {
    var l = this.log;
    if (force || this.stick !== false) l.scrollTop = l.scrollHeight;
  };
  P.grow = function () {
    this.input.style.height = 'auto';
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 140) + 'px';
  };
  P.add = function (el) { this.log.appendChild(el); this.scroll(); return el; };
  P.sys = function (key, vars) { return this.add(this.tx(h('div', { class: 'sys' }), key, null, vars)); };

  // ---------------------------------------------------------------- connection
  P.net = function (state) {
    this.netState = state;
    var on = state === 'online';
    this.dot.className = 'dot ' + (on ? 'on' : state === 'connecting' ? '' : 'off');
    this.stText.textContent = this.t(state === 'lost' ? 'reconnecting' : state === 'offline' ? 'off' : state);
    var banner = state === 'offline' ? 'offline' : state === 'lost' ? 'lost' : null;
    this.banner.hidden = !banner;
    if (banner) this.bannerText.textContent = this.t(banner);
  };
  P.getToken = function () {
    var o = this.o;
    if (typeof o.getToken === 'function') return Promise.resolve(o.getToken());
    if (o.token) return Promise.resolve(o.token);
    if (o.tokenUrl) {
      return fetch(o.tokenUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
        if (!r.ok) throw new Error('token ' + r.status);
        return /json/.test(r.headers.get('content-type') || '') ? r.json().then(function (j) { return j.token || j.access_token; }) : r.text();
      });
    }
    return Promise.reject(new Error('no token source: set data-token-url or init({getToken})'));
  };
  P.connect = function () {
    var self = this;
    if (this.ws || this.connecting || this.dead) return;
    clearTimeout(this.retryTimer);
    if (navigator.onLine === false) { this.net('offline'); return; }
    this.connecting = true;
    if (!this.refreshing) this.net(this.everReady ? 'lost' : 'connecting');
    this.getToken().then(function (token) {
      self.connecting = false;
      if (self.ws || self.dead) return;
      if (!token) throw new Error('empty token');
      var ws = new WebSocket(self.wsUrl);
      ws.binaryType = 'arraybuffer';
      self.ws = ws; self.ready = false;
      ws.onopen = function () {
        var hello = { type: 'hello', v: 1, token: String(token).trim(), session_id: self.sessionId || null,
          last_seq: self.sessionId ? self.lastSeq : null, lang: self.langPicked ? self.lang : null };
        if (self.machineId) hello.machine_id = self.machineId;
        ws.send(JSON.stringify(hello));
      };
      ws.onmessage = function (ev) {
        if (ws !== self.ws || typeof ev.data !== 'string') return;
        self.lastRx = Date.now();
        var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
        if (f && typeof f === 'object') self.frame(f);
      };
      ws.onclose = function (ev) { if (ws === self.ws) self.closed(ev.code); };
    }).catch(function (e) {
      self.connecting = false; self.refreshing = false;
      if (window.console) console.warn('ABParts Assistant: token', e && e.message);
      self.backoff();
    });
  };
  P.closed = function (code) {
    this.ws = null; this.ready = false; this.refreshing = false;
    clearInterval(this.pinger);
    this.typing.hidden = true;
    if (code === 4002 && this.everReady && !this.authFails) {
      // the token ran out on an open conversation: fetch a new one and resume at once, quietly (the
      // status stays as it is, unsent messages wait in the outbox, missed frames are replayed)
      this.authFails = 1; this.retry = 0; this.refreshing = true;
      return this.connect();
    }
    if (code === 4001 || code === 4002) {
      if (++this.authFails > 3) return this.fatal();
      this.retry = 0;
    } else if (code === 4003) return this.fatal();
    else if (code === 4005) return this.askConsent(); // CONSENT_REQUIRED: ask once, then connect
    else if (code === 4004) { this.forgetSession(); this.retry = 0; }
    else if (code === 1012 || code === 1013) this.retry = 0; // replica restarting / fell behind: resume at once
    if (navigator.onLine === false) { this.net('offline'); return; }
    this.net(this.everReady ? 'lost' : 'connecting');
    this.backoff();
  };
  // ---------------------------------------------------------------- consent (CONSENT_REQUIRED, docs/security.md)
  // The server's text, in the user's language, with its version; the answer is stored by the server
  // before anything of the conversation is. Declining stores nothing and offers to change one's mind.
  P.consentApi = function (method, body) {
    var self = this;
    return this.getToken().then(function (token) {
      var url = self.base + '/api/me/consent' + (method === 'GET' ? '?lang=' + encodeURIComponent(self.lang) : '');
      var init = { method: method, headers: { Authorization: 'Bearer ' + String(token).trim(), Accept: 'application/json' } };
      if (body) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
      return fetch(url, init);
    }).then(function (r) { if (!r.ok) throw new Error('consent ' + r.status); return r.json(); });
  };
  P.askConsent = function () {
    var self = this;
    if (this.consentCard) return;
    this.net('connecting');
    this.consentApi('GET').then(function (c) {
      if (c.granted) { self.retry = 0; return self.connect(); }
      var card = self.add(h('div', { class: 'card consent', role: 'group', 'aria-label': c.text.slice(0, 80) }));
      self.consentCard = card;
      var text = h('p', { class: 'consent-text' }); text.textContent = c.text;
      var yes = self.tx(h('button', { class: 'lk', type: 'button' }), 'consentAgree');
      var no = self.tx(h('button', { class: 'lk', type: 'button' }), 'consentDecline');
      var answer = function (granted) {
        yes.disabled = no.disabled = true;
        self.consentApi('POST', { granted: granted, version: c.version }).then(function () {
          card.remove(); self.consentCard = null;
          if (granted) { self.retry = 0; self.connect(); return; }
          var again = self.add(h('div', { class: 'sys consent-declined' }));
          self.tx(again.appendChild(h('span')), 'consentDeclined');
          var change = self.tx(h('button', { class: 'lk', type: 'button' }), 'consentAgree');
          change.onclick = function () { again.remove(); self.askConsent(); };
          again.appendChild(change);
        }).catch(function () { yes.disabled = no.disabled = false; });
      };
      yes.onclick = function () { answer(true); };
      no.onclick = function () { answer(false); };
      card.appendChild(text); card.appendChild(yes); card.appendChild(no);
      if (self.visible()) yes.focus(); else self.notify();
    }).catch(function (e) {
      if (window.console) console.warn('ABParts Assistant: consent', e && e.message);
      self.backoff();
    });
  };
  P.backoff = function () {
    var self = this, n = this.retry++;
    var delay = Math.min(15000, 400 * Math.pow(2, n)) * (0.75 + Math.random() * 0.5);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(function () { self.connect(); }, delay);
  };
  P.fatal = function () {
    this.dead = true;
    this.net('connecting');
    this.stText.textContent = '';
    this.banner.hidden = false;
    this.bannerText.textContent = this.t('auth');
  };
  P.raw = function (f) { if (this.ws && this.ws.readyState === 1) { this.ws.send(typeof f === 'string' ? f : JSON.stringify(f)); return true; } return false; };
  P.sendCtl = function (f) { if (!(this.ready && this.raw(f))) this.ctl.push(f); };
  P.forgetSession = function () {
    this.sessionId = null; this.lastSeq = 0;
    sset(this.ss, this.key + 'session', null);
  };
  P.saveOutbox = function () { sset(this.ss, this.key + 'outbox', this.outbox.length ? this.outbox : null); };

  // ---------------------------------------------------------------- frames from the server
  P.frame = function (f) {
    if (typeof f.seq === 'number') {
      if (f.seq <= this.lastSeq) return; // already seen (replay after a resume): never doubled
      this.lastSeq = f.seq;
    }
    var fn = this['on_' + f.type];
    if (fn) fn.call(this, f);
  };
  P.on_ready = function (f) {
    var self = this;
    this.ready = true; this.everReady = true; this.retry = 0; this.authFails = 0; this.refreshing = false;
    if (this.sessionId && f.session_id !== this.sessionId) { this.clearLog(); this.lastSeq = 0; }
    this.sessionId = f.session_id;
    if (typeof f.last_seq === 'number' && !f.resumed) this.lastSeq = f.last_seq;
    sset(this.ss, this.key + 'session', this.sessionId);
    var user = f.user || {};
    this.userName = user.name || '';
    // the UI follows the profile language; the session's (the conversation's) may change with each message
    if (!this.langChosen && (user.lang || f.lang)) this.setLanguage(user.lang || f.lang, false);
    // no host database behind the service: no machine picker (the machine's id alone still goes along)
    this.machineContext = f.machine_context !== false;
    if (!this.machineContext) this.machines = [];
    else if (!this.machines.length) { this.machines = normMachines(f.machines || user.machines); this.nameMachines(); }
    if (f.machine) { this.machineId = f.machine.id || this.machineId; this.machine = f.machine; }
    this.limits = f.limits || {};
    this.renderMachine();
    this.net('online');
    if (!f.resumed && !this.welcomed) {
      this.welcomed = true;
      var bubble = h('div', { class: 'msg bot' }, [h('div', { class: 'md' })]);
      this.tx(bubble.firstChild, this.userName ? 'welcome' : 'welcome0', null, { name: this.userName });
      this.add(bubble);
      if (!this.machineId && this.machines.length) this.showPicker();
    }
    clearInterval(this.pinger);
    this.lastRx = Date.now();
    this.pinger = setInterval(function () {
      if (Date.now() - self.lastRx > 45000 && self.ws) self.ws.close(4000, 'keepalive'); else self.raw({ type: 'ping' });
    }, 20000);
    this.flushOutbox();
    var ctl = this.ctl; this.ctl = [];
    ctl.forEach(function (c) { self.sendCtl(c); });
  };
  P.on_history = function (f) {
    var self = this;
    this.clearLog();
    this.welcomed = true;
    (f.messages || []).forEach(function (m) {
      if (m.role === 'user') return self.on_user_message({ client_id: m.client_id || m.id, message_id: m.id, text: m.text });
      if (m.role === 'support' || m.role === 'agent') return self.on_support_message({ message_id: m.id, agent: m.agent || m.author, text: m.text });
      var a = self.answer(m.id);
      self.on_delta({ message_id: m.id, text: m.text || '' });
      var open = 0, steps = m.steps || []; // the steps answered so far and the one waiting for an answer
      steps.forEach(function (st, i) {
        if (open || !(st.step_id || st.id)) return;
        self.on_step({ message_id: m.id, step_id: st.step_id || st.id, text: st.text, index: i + 1, total: steps.length });
        if (st.outcome) self.on_step_result({ step_id: st.step_id || st.id, outcome: st.outcome }); else open = 1;
      });
      self.on_done({ message_id: m.id, status: m.status === 'streaming' ? 'complete' : m.status, mode: m.mode, citations: m.citations, lang: m.lang, recorded: true });
      if (m.feedback) self.on_feedback_recorded({ message_id: m.id, rating: m.feedback });
      a.el.setAttribute('data-history', 'true');
    });
    if (f.status === 'resolved') this.on_resolved({ resolved: true });
    if (f.status === 'closed') this.setReadOnly(true);
    if (typeof f.last_seq === 'number') this.lastSeq = f.last_seq;
    this.unread = 0; this.badge.hidden = true;
  };
  P.on_user_message = function (f) {
    var b = this.users[f.client_id];
    if (b) { this.delivered(b); this.log.appendChild(b); this.scroll(); }
    else this.userBubble(f.client_id || f.message_id, f.text, false);
    this.unqueue(f.client_id);
  };
  P.on_ack = function (f) { // the server has the message (possibly from an earlier attempt): stop resending it
    if (!f.client_id) return;
    this.unqueue(f.client_id);
    if (this.users[f.client_id]) this.delivered(this.users[f.client_id]);
  };
  P.delivered = function (b) { b.classList.remove('pending'); if (b._meta) { b._meta.remove(); b._meta = null; } };
  P.unqueue = function (cid) {
    var n = this.outbox.length;
    this.outbox = this.outbox.filter(function (m) { return m.client_id !== cid; });
    if (n !== this.outbox.length) this.saveOutbox();
  };
  // Resend what is still queued (the server ignores repeats of a client_id).
  P.flushOutbox = function () {
    var self = this;
    if (this.ready) this.outbox.forEach(function (m) { self.raw({ type: 'message', client_id: m.client_id, text: m.text, lang: m.lang || null }); });
  };
  P.on_status = function (f) {
    this.generating = f.message_id;
    this.typing.hidden = false; this.dots.hidden = false;
    var s = this.t('thinking');
    if (f.eta_ms > 0) s += ' ' + this.t('eta', { s: Math.max(1, Math.round(f.eta_ms / 1000)) });
    this.typingText.textContent = s;
  };
  P.answer = function (id) {
    var a = this.answers[id];
    if (a) return a;
    var el = h('div', { class: 'msg bot', 'aria-busy': 'true', 'data-message-id': id });
    a = this.answers[id] = { id: id, el: el, body: h('div'), segs: [], raw: '' };
    el.appendChild(this.tx(h('span', { class: 'sr' }), 'assistant'));
    el.appendChild(a.body);
    this.add(el);
    return a;
  };
  P.on_delta = function (f) {
    var a = this.answer(f.message_id), seg = a.segs[a.segs.length - 1];
    if (!seg || seg.step) { seg = { raw: '', el: a.body.appendChild(h('div', { class: 'md', dir: 'auto' })) }; a.segs.push(seg); }
    seg.raw += f.text || ''; a.raw += f.text || '';
    seg.dirty = true;
    if (!a.done) { this.generating = f.message_id; this.typing.hidden = false; this.dots.hidden = true; this.typingText.textContent = ''; }
    this.paint(a);
  };
  P.paint = function (a, now) {
    var self = this;
    if (now) { clearTimeout(a.timer); a.timer = 0; }
    else if (a.timer) return;
    var run = function () {
      a.timer = 0;
      a.segs.forEach(function (s) { if (s.dirty) { s.dirty = false; s.el.replaceChildren(); markdown(s.raw, s.el); } });
      self.scroll();
    };
    if (now) run(); else a.timer = setTimeout(run, 40); // coalesce bursts of small deltas
  };
  P.on_step = function (f) {
    var self = this, a = this.answer(f.message_id);
    if (this.steps && this.steps[f.step_id]) return; // already shown (another device, a replay)
    var n = f.index || a.segs.filter(function (s) { return s.step; }).length + 1;
    var card = h('div', { class: 'step', role: 'group', 'data-step-id': f.step_id });
    var head = this.tx(h('div', { class: 'sh', id: 'abpa-s-' + f.step_id }), f.total ? 'stepOf' : 'step', null, { n: n, total: f.total });
    card.setAttribute('aria-labelledby', head.id);
    card.appendChild(head);
    card.appendChild(inline(String(f.text || ''), h('div', { class: 'md', dir: 'auto' })));
    card.appendChild(this.tx(h('div', { class: 'q' }), 'help'));
    var outs = h('div', { class: 'outs' });
    var btns = [['fixed', 'fixed'], ['not_fixed', 'notFixed'], ['cannot_do', 'cannot']].map(function (o) {
      return self.tx(h('button', { class: 'btn', type: 'button', 'data-outcome': o[0], 'aria-pressed': 'false', onclick: function () {
        btns.forEach(function (b) { b.disabled = true; b.setAttribute('aria-pressed', String(b === this)); }, this);
        self.sendCtl({ type: 'step_outcome', step_id: f.step_id, outcome: o[0] });
      } }), o[1]);
    });
    btns.forEach(function (b) { outs.appendChild(b); });
    card.appendChild(outs);
    (this.steps = this.steps || {})[f.step_id] = btns;
    a.segs.push({ step: true, el: card });
    a.body.appendChild(card);
    this.scroll();
  };
  P.on_done = function (f) {
    var self = this, a = this.answer(f.message_id);
    a.done = true;
    this.paint(a, true);
    a.el.setAttribute('aria-busy', 'false');
    if (this.generating === f.message_id || !this.generating) { this.generating = null; this.typing.hidden = true; }
    if (f.mode === 'retrieval_only' && !f.recorded) { // a recorded answer's own text says where it comes from
      a.el.appendChild(this.tx(h('div', { class: 'note' }), f.usage && f.usage.reason === 'not_configured' ? 'manualsOnly' : 'retrieval'));
    }
    if (f.mode === 'llm' && f.usage && f.usage.fallback && !f.recorded) { // the primary model failed: say so
      a.el.appendChild(this.tx(h('div', { class: 'note' }), 'backupModel'));
    }
    if (f.status === 'cancelled' || f.status === 'failed') a.el.appendChild(this.tx(h('div', { class: 'note' }), f.status));
    var cites = (f.citations || []).filter(function (c) { return c && c.url; });
    if (cites.length) {
      var row = h('div', { class: 'cites' }, [this.tx(h('span', { class: 'cl' }), 'sources')]);
      cites.forEach(function (c) {
        var url = safeUrl(/^\//.test(c.url) ? self.base + c.url : c.url, self.base ? self.base + '/' : undefined);
        var label = h('span', { text: String(c.title || '') });
        var chip = h(url ? 'a' : 'span', { class: 'chip', href: url, target: url && '_blank', rel: url && 'noopener noreferrer',
          title: [c.title, c.section].filter(Boolean).join(' — ') }, [h('b', { text: '[' + (c.n || '') + ']' }), label]);
        if (c.page) chip.appendChild(self.tx(h('span'), 'page', null, { n: c.page }));
        if (url) chip.addEventListener('click', function (e) { e.preventDefault(); self.openDoc(url); });
        row.appendChild(chip);
      });
      a.el.appendChild(row);
    }
    if (f.status !== 'failed' && a.raw) a.el.appendChild(this.actions(a, f));
    if (this.outbox.length) this.flushOutbox(); // messages typed while this answer was being written
    this.notify();
    this.scroll();
  };
  P.actions = function (a, f) {
    var self = this, thanks = h('span', { class: 'note', role: 'status' });
    function rate(r, btn, other) {
      btn.setAttribute('aria-pressed', 'true'); other.setAttribute('aria-pressed', 'false');
      self.sendCtl({ type: 'feedback', message_id: a.id, rating: r });
    }
    a.thanks = thanks;
    var up = this.tx(h('button', { class: 'ib up', type: 'button', 'aria-pressed': 'false' }, [icon('up')]), 'up', 'aria-label');
    var down = this.tx(h('button', { class: 'ib down', type: 'button', 'aria-pressed': 'false' }, [icon('up', 'flip')]), 'down', 'aria-label');
    a.rating = { up: up, down: down };
    up.onclick = function () { rate('up', up, down); };
    down.onclick = function () { rate('down', down, up); };
    var kids = [up, down];
    if (window.speechSynthesis && window.SpeechSynthesisUtterance) {
      var say = this.tx(h('button', { class: 'ib say', type: 'button', 'aria-pressed': 'false' }, [icon('speak')]), 'readAloud', 'aria-label');
      say.onclick = function () { self.speak(a, say, f.lang); };
      kids.push(say);
    }
    kids.push(thanks);
    return h('div', { class: 'acts' }, kids);
  };
  P.speak = function (a, btn, lang) {
    var synth = window.speechSynthesis;
    if (this.speaking === btn) { synth.cancel(); return; }
    synth.cancel();
    var text = plainText(a.raw);
    lang = /[\u0600-\u06ff]/.test(text) ? 'ar' : /[\u0370-\u03ff]/.test(text) ? 'el' : pickLang(lang || this.lang);
    var u = new SpeechSynthesisUtterance(text), self = this;
    u.lang = SPEECH[lang];
    var voice = synth.getVoices().filter(function (v) { return v.lang && v.lang.slice(0, 2) === u.lang.slice(0, 2); })[0];
    if (voice) u.voice = voice;
    var reset = function () {
      if (self.speaking !== btn) return;
      self.speaking = null; btn.setAttribute('aria-pressed', 'false'); btn.setAttribute('aria-label', self.t('readAloud'));
    };
    u.onend = u.onerror = reset;
    this.speaking = btn;
    btn.setAttribute('aria-pressed', 'true'); btn.setAttribute('aria-label', this.t('stopReading'));
    synth.speak(u);
  };
  P.on_step_result = function (f) { // an outcome was recorded (here or on another device)
    (this.steps && this.steps[f.step_id] || []).forEach(function (b) {
      b.disabled = true; b.setAttribute('aria-pressed', String(b.getAttribute('data-outcome') === f.outcome));
    });
  };
  P.on_escalation_offer = function () {
    var self = this, card = h('div', { class: 'card offer', role: 'group' });
    card.appendChild(this.tx(h('p'), 'offer'));
    var b = this.tx(h('button', { class: 'btn pri', type: 'button', onclick: function () { b.disabled = true; self.escalate(); } }), 'human');
    card.appendChild(h('div', { class: 'outs' }, [b]));
    this.add(card);
    this.notify();
  };
  P.on_feedback_recorded = function (f) { // the server stored the rating
    var a = this.answers[f.message_id];
    if (a && a.thanks) { this.tx(a.thanks, 'thanks'); a.el.setAttribute('data-feedback', String(f.rating)); }
    if (a && a.rating) { a.rating.up.setAttribute('aria-pressed', String(f.rating === 'up')); a.rating.down.setAttribute('aria-pressed', String(f.rating === 'down')); }
  };
  P.on_machine = function (f) {
    if (f.machine && f.machine.id) { this.machine = f.machine; this.machineId = f.machine.id; this.renderMachine(); }
  };
  // The manual endpoint wants the bearer token, which a plain link cannot send: fetch it, then show it from a
  // blob. PDF keeps its type, and so does the server's readable page of a manual (/view: written by the server
  // from escaped text, with a policy in the page that allows no script); anything else is shown as plain text,
  // so an uploaded HTML manual can never run here. The #page or #anchor goes on the blob's address; /view is
  // asked to mark the cited section (?at=anchor), since the blob takes on this page's style policy.
  P.openDoc = function (url) {
    var self = this, hash = url.indexOf('#') >= 0 ? url.slice(url.indexOf('#')) : '', path = url.replace(/#.*$/, '');
    var win = window.open('', '_blank');
    if (win) win.opener = null;
    this.getToken().then(function (token) {
      return fetch(/\/view$/.test(path) && hash.length > 1 ? path + '?at=' + hash.slice(1) : path, { headers: { Authorization: 'Bearer ' + token } });
    }).then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.blob(); }).then(function (b) {
      var type = /pdf/.test(b.type) ? 'application/pdf'
        : /\/view$/.test(path) && /^text\/html/.test(b.type) ? 'text/html;charset=utf-8' : 'text/plain;charset=utf-8';
      var u = URL.createObjectURL(new Blob([b], { type: type })) + hash;
      if (win) win.location.href = u; else window.open(u, '_blank', 'noopener');
    }).catch(function () { if (win) win.close(); self.sys('error'); });
  };
  P.on_escalated = function (f) {
    var c = f.contact || {}, card = h('div', { class: 'card ok', role: 'status', 'data-ticket': f.ticket_number || '' });
    card.appendChild(this.tx(h('p'), 'escalated', null, { n: f.ticket_number || f.ticket_id || '' }));
    var contacts = h('div', { class: 'outs' });
    if (c.email && /^[^\s@<>"]+@[^\s@<>"]+$/.test(c.email)) {
      contacts.appendChild(h('a', { class: 'chip', href: 'mailto:' + c.email }, [this.tx(h('b'), 'email'), h('span', { text: c.email })]));
    }
    if (c.phone) {
      var tel = String(c.phone).replace(/[^\d+]/g, '');
      contacts.appendChild(h('a', { class: 'chip', href: tel ? 'tel:' + tel : null }, [this.tx(h('b'), 'phone'), h('span', { text: String(c.phone) })]));
    }
    card.appendChild(contacts);
    this.add(card);
    this.notify();
  };
  P.on_support_message = function (f) {
    clearTimeout(this.agentTypingTimer); this.agentTyping.hidden = true;
    var el = h('div', { class: 'msg bot agent', 'data-message-id': f.message_id });
    el.appendChild(f.agent ? h('div', { class: 'who', text: String(f.agent) }) : this.tx(h('div', { class: 'who' }), 'agent'));
    el.appendChild(markdown(String(f.text || ''), h('div', { class: 'md' })));
    this.add(el);
    this.notify();
  };
  // A person took the conversation, handed it back, closed it, or nobody took it in time (text comes localised).
  P.on_handover = function (f) {
    var el = h('div', { class: 'sys handover', role: 'status', dir: 'auto', 'data-event': String(f.event || ''), text: String(f.text || '') });
    this.add(el);
    this.agent = f.mode === 'human' ? String(f.agent || '') : null;
    if (f.mode !== 'human') { clearTimeout(this.agentTypingTimer); this.agentTyping.hidden = true; }
    if (f.event === 'unclaimed' && f.contact) this.add(this.contactCard(f.contact));
    if (f.event === 'closed') this.setReadOnly(true);
    this.notify();
  };
  P.on_agent_typing = function (f) {
    var self = this;
    clearTimeout(this.agentTypingTimer);
    this.agentTyping.hidden = !f.active;
    this.agentTypingText.textContent = String(f.text || '');
    if (f.active) this.agentTypingTimer = setTimeout(function () { self.agentTyping.hidden = true; }, 8000);
  };
  P.contactCard = function (c) {
    var card = h('div', { class: 'outs contacts' });
    if (c.email && /^[^\s@<>"]+@[^\s@<>"]+$/.test(c.email)) card.appendChild(h('a', { class: 'chip', href: 'mailto:' + c.email }, [this.tx(h('b'), 'email'), h('span', { text: c.email })]));
    if (c.phone) {
      var tel = String(c.phone).replace(/[^\d+]/g, '');
      card.appendChild(h('a', { class: 'chip', href: tel ? 'tel:' + tel : null }, [this.tx(h('b'), 'phone'), h('span', { text: String(c.phone) })]));
    }
    return card;
  };
  // The user's earlier conversations (from any device): reopen one read-only when it is finished, or continue it.
  P.showHistory = function () {
    var self = this;
    if (!this.hist.hidden) { this.hideHistory(); return; }
    this.hist.hidden = false; this.log.hidden = true;
    this.histList.replaceChildren(this.tx(h('li', { class: 'sys' }), 'connecting'));
    this.getToken().then(function (token) {
      return fetch(self.base + '/api/sessions', { headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' } });
    }).then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (j) { self.renderHistory((j && j.sessions) || []); })
      .catch(function () { self.histList.replaceChildren(self.tx(h('li', { class: 'sys' }), 'error')); });
  };
  P.hideHistory = function () { this.hist.hidden = true; this.log.hidden = false; this.scroll(true); };
  P.renderHistory = function (items) {
    var self = this, ul = this.histList;
    ul.replaceChildren();
    if (!items.length) ul.appendChild(this.tx(h('li', { class: 'sys' }), 'historyEmpty'));
    items.forEach(function (s) {
      var key = { resolved: 'stResolved', escalated: 'stEscalated', closed: 'stClosed' }[s.status] || 'stOpen';
      var m = s.machine_id ? self.machines.filter(function (x) { return x.id === s.machine_id; })[0] : null;
      var when = new Date(s.created_at);
      var b = h('button', { class: 'hi' + (s.id === self.sessionId ? ' cur' : ''), type: 'button', 'data-session-id': s.id, 'data-status': s.status,
        onclick: function () { self.openSession(s); } }, [
        h('span', { class: 'ht', dir: 'auto', text: s.first_question || self.t('untitled') }),
        h('span', { class: 'hm', text: [isNaN(when) ? '' : when.toLocaleString(self.lang), s.machine_id ? (m ? m.name + ' · ' : '') + s.machine_id : self.t('general')].filter(Boolean).join(' · ') }),
        h('span', { class: 'hs st-' + (s.status || 'open'), text: self.t(key) + (s.answering ? ' · ' + self.t('answering') : '') })]);
      ul.appendChild(h('li', null, [b]));
    });
  };
  P.openSession = function (s) {
    this.hideHistory();
    this.setReadOnly(s.status === 'closed' || s.status === 'resolved');
    if (s.id === this.sessionId) return;
    this.sessionId = s.id; this.lastSeq = 0;
    sset(this.ss, this.key + 'session', s.id);
    this.clearLog(); this.welcomed = true;
    this.machineId = s.machine_id || this.o.machineId || null; this.machine = null; this.renderMachine();
    if (this.ws) this.ws.close(4000, 'another conversation'); else this.connect();
  };
  P.setReadOnly = function (on) {
    this.readOnly = !!on;
    this.input.disabled = this.readOnly; this.sendB.disabled = this.readOnly; this.micB.disabled = this.readOnly;
    this.roNote.hidden = !this.readOnly;
    this.foot.hidden = this.readOnly;
    this.log.classList.toggle('ro-log', this.readOnly);
  };
  P.on_error = function (f) {
    var self = this;
    if (f.client_id && this.users[f.client_id]) {
      // stays queued and is sent again: after the answer, the rate window, or the restart of the session store
      if (f.code === 'turn_in_progress' || f.code === 'rate_limited' || f.code === 'temporarily_unavailable') {
        clearTimeout(this.outboxTimer);
        this.outboxTimer = setTimeout(function () { self.flushOutbox(); },
          f.code === 'rate_limited' ? 10000 : f.code === 'temporarily_unavailable' ? 2000 : 4000);
        return;
      }
      var b = this.users[f.client_id];
      this.unqueue(f.client_id);
      b.classList.remove('pending'); b.classList.add('failed');
      if (!b._meta) b._meta = b.appendChild(h('span', { class: 'meta' }));
      b._meta.textContent = this.t('notSent') + (f.message ? ': ' + f.message : '');
      return;
    }
    if (f.message_id && this.answers[f.message_id]) {
      this.answers[f.message_id].el.setAttribute('aria-busy', 'false');
      this.generating = null; this.typing.hidden = true;
    }
    if (this.transcribing || /^(voice|audio)_/.test(f.code || '')) {
      this.transcribing = false; this.hint.textContent = f.message ? String(f.message) : this.t('error'); return;
    }
    var el = f.message ? this.add(h('div', { class: 'sys', text: String(f.message) })) : this.sys('error'); // messages come localised
    el.setAttribute('data-code', String(f.code || ''));
  };
  P.on_transcript = function (f) {
    this.transcribing = false;
    var text = String(f.text || '').trim();
    this.input.value = this.input.value ? this.input.value.replace(/\s*$/, ' ') + text : text;
    this.hint.textContent = this.t('checkTranscript');
    this.grow();
    this.input.focus();
  };

  // ---------------------------------------------------------------- user actions
  P.userBubble = function (cid, text, pending) {
    var b = h('div', { class: 'msg user' + (pending ? ' pending' : ''), 'data-client-id': cid }, [this.tx(h('span', { class: 'sr' }), 'you'), h('span', { text: text, dir: 'auto' })]);
    if (pending) { b._meta = this.tx(h('span', { class: 'meta' }), 'pending'); b.appendChild(b._meta); }
    this.users[cid] = b;
    return this.add(b);
  };
  P.submit = function () {
    var text = this.input.value.trim();
    if (!text) return;
    var m = { client_id: uuid(), text: text, lang: this.langPicked ? this.lang : null };
    this.input.value = ''; this.grow(); this.hint.textContent = '';
    this.outbox.push(m); this.saveOutbox();
    this.userBubble(m.client_id, text, true);
    this.scroll(true);
    if (this.ready) this.raw({ type: 'message', client_id: m.client_id, text: m.text, lang: m.lang || null });
  };
  P.escalate = function () { this.sendCtl({ type: 'escalate' }); };
  P.resolve = function () { this.sendCtl({ type: 'resolve', resolved: true, save: true }); };
  P.on_resolved = function (f) { // confirmed by the server (and shown on every device of the session)
    if (f.resolved) this.add(this.tx(h('div', { class: 'card ok resolved', role: 'status' }), 'solvedNote'));
  };
  P.clearLog = function () {
    var self = this;
    this.log.replaceChildren(); this.answers = {}; this.users = {}; this.steps = {}; this.welcomed = false; this.picker = null;
    this.bind = this.bind.filter(function (b) { return !self.log.contains(b[0]) && b[0].isConnected !== false; });
    this.outbox.forEach(function (m) { self.userBubble(m.client_id, m.text, true); });
  };
  P.newConversation = function () {
    this.forgetSession();
    this.setReadOnly(false);
    this.agent = null; this.agentTyping.hidden = true;
    this.clearLog();
    this.machine = null;
    if (!this.o.machineId) this.machineId = null;
    this.renderMachine();
    if (this.ws) this.ws.close(4000, 'new conversation'); else this.connect();
    this.input.focus();
  };
  P.renderMachine = function () {
    var id = this.machineId, m = this.machines.filter(function (x) { return x.id === id; })[0];
    var name = m ? m.name : this.machine ? (this.machine.name || this.machine.model || id) : null;
    this.machLabel.textContent = id ? name + (name !== id ? ' (' + id + ')' : '') : this.t('machine') + ': ' + this.t('general');
    this.machB.setAttribute('aria-label', this.t('machine') + ': ' + this.machLabel.textContent);
    this.machB.hidden = this.machineContext === false || (!this.machines.length && !id);
  };
  // Only ids came with the token: ask the service for names (model, serial) so the picker is readable.
  P.nameMachines = function () {
    var self = this;
    if (!this.machines.length || this.machines.some(function (m) { return m.name !== m.id; })) return;
    this.getToken().then(function (token) {
      return fetch(self.base + '/api/machines', { headers: { Authorization: 'Bearer ' + token } });
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (j) {
      var names = {};
      ((j && j.machines) || []).forEach(function (m) { if (m && m.id) names[m.id] = String(m.name || m.model || m.id); });
      self.machines.forEach(function (m) { if (names[m.id]) m.name = names[m.id]; });
      self.renderMachine();
      if (self.picker) self.picker.querySelectorAll('button[data-machine-id]').forEach(function (b) {
        var id = b.getAttribute('data-machine-id');
        if (id && names[id]) b.textContent = names[id] + ' · ' + id;
      });
    }).catch(function () { /* names are cosmetic: ids stay */ });
  };
  P.showPicker = function () {
    var self = this;
    if (!this.machines.length) return;
    var card = h('div', { class: 'card pick', role: 'group' });
    var q = this.tx(h('p', { id: 'abpa-pick-' + uuid().slice(0, 8) }), 'pickMachine');
    card.setAttribute('aria-labelledby', q.id);
    card.appendChild(q);
    var outs = h('div', { class: 'outs' }), btns = [];
    this.machines.concat([{ id: '', name: null }]).forEach(function (m) {
      var b = h('button', { class: 'btn', type: 'button', 'data-machine-id': m.id, 'aria-pressed': String(!!m.id && m.id === self.machineId) });
      if (m.name) b.textContent = m.name + (m.name !== m.id ? ' · ' + m.id : ''); else self.tx(b, 'general');
      b.onclick = function () {
        btns.forEach(function (x) { x.disabled = true; x.setAttribute('aria-pressed', String(x === b)); });
        self.picker = null;
        self.setMachine(m.id || null);
        self.input.focus();
      };
      btns.push(b); outs.appendChild(b);
    });
    card.appendChild(outs);
    if (this.picker) this.picker.querySelectorAll('button').forEach(function (x) { x.disabled = true; });
    this.picker = card;
    this.add(card);
    this.scroll(true);
    if (this.visible()) btns[0].focus();
  };
  P.setMachine = function (id) {
    this.machineId = id || null;
    if (id) this.sendCtl({ type: 'select_machine', machine_id: id });
    this.renderMachine();
  };

  // ---------------------------------------------------------------- voice
  P.toggleMic = function () {
    var self = this;
    if (this.rec) { this.rec.stop(); return; }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var types = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'];
      var mime = types.filter(function (t) { return MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(t); })[0];
      var rec = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined), chunks = [];
      self.rec = rec;
      rec.ondataavailable = function (e) { if (e.data && e.data.size) chunks.push(e.data); };
      rec.onstop = function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        clearTimeout(self.recTimer);
        self.rec = null; self.micUi(false);
        var type = rec.mimeType || mime || 'audio/webm';
        var fmt = /ogg/.test(type) ? 'ogg' : /mp4|m4a/.test(type) ? 'm4a' : 'webm';
        new Blob(chunks, { type: type }).arrayBuffer().then(function (buf) { self.sendAudio(buf, fmt); });
      };
      rec.start(250);
      self.micUi(true);
      var max = (self.limits && self.limits.voice_max_seconds) || 60;
      self.recTimer = setTimeout(function () { if (self.rec === rec) rec.stop(); }, max * 1000);
    }).catch(function () { self.hint.textContent = self.t('micError'); });
  };
  P.micUi = function (on) {
    this.micB.classList.toggle('rec', on);
    this.micB.setAttribute('aria-pressed', String(on));
    var s = this.t(on ? 'micStop' : 'mic');
    this.micB.setAttribute('aria-label', s); this.micB.title = s;
    this.hint.textContent = on ? this.t('recording') : '';
  };
  P.sendAudio = function (buf, fmt) {
    if (!buf.byteLength) return;
    if (!this.ready) { this.hint.textContent = this.t('offline'); return; }
    this.raw({ type: 'audio_start', format: fmt, lang: this.langPicked ? this.lang : null });
    for (var i = 0; i < buf.byteLength; i += 65536) this.ws.send(buf.slice(i, i + 65536));
    this.raw({ type: 'audio_end' });
    this.transcribing = true;
    this.hint.textContent = this.t('transcribing');
  };

  // ---------------------------------------------------------------- public API (the only global)
  var instance = null;
  function init(opts) {
    if (instance) return api;
    opts = opts || {};
    if (!document.body) { document.addEventListener('DOMContentLoaded', function () { init(opts); }); return api; }
    if (opts.baseUrl == null) opts.baseUrl = scriptBase;
    instance = new Widget(opts);
    return api;
  }
  function call(name) { return function (a) { if (instance) instance[name](a); return api; }; }
  var scriptBase = SCRIPT && SCRIPT.src ? SCRIPT.src.replace(/[?#].*$/, '').replace(/\/[^/]*$/, '') : '';
  var api = {
    version: VERSION, init: init, open: call('open'), close: call('close'), setMachine: call('setMachine'),
    setLanguage: function (l) { if (instance) instance.setLanguage(l, true); return api; },
    newConversation: call('newConversation')
  };
  try { Object.defineProperty(window, 'ABPartsAssistant', { value: api, writable: false, configurable: false, enumerable: true }); }
  catch (e) { window.ABPartsAssistant = api; }

  if (SCRIPT && SCRIPT.getAttribute('data-token-url') && SCRIPT.getAttribute('data-auto-init') !== 'false') {
    var d = SCRIPT.dataset;
    init({ tokenUrl: d.tokenUrl, language: d.lang, color: d.color, theme: d.theme, machineId: d.machineId,
      baseUrl: d.baseUrl != null ? d.baseUrl : scriptBase,
      machines: d.machines ? d.machines.split(',').map(function (s) { return s.trim(); }).filter(Boolean) : undefined });
  }
})();
