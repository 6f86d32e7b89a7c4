"""Push notifications: the :class:`PushSender` protocol, the database log sender and FCM."""
